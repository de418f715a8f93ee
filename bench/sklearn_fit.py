"""scikit-learn's side of bench/forest_vs_sklearn.sh: fit RandomForestClassifier
on the exact matrices raincast's encoder exported (NaN = missing, which
scikit-learn >= 1.4 forests accept), tune the threshold on the tune window like
raincast does, and print the same metrics as JSON. Usage: sklearn_fit.py DIR
[MIN_SAMPLES_LEAF] (default 20, raincast's; the bench passes ours)."""
import json, resource, sys, time
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score, roc_auc_score, brier_score_loss

d = sys.argv[1]
leaf = int(sys.argv[2]) if len(sys.argv) > 2 else 20
n = int(open(f"{d}/n_features").read())
load = lambda name: (np.fromfile(f"{d}/{name}_x.f32", dtype="<f4").reshape(-1, n),
                     np.fromfile(f"{d}/{name}_y.u8", dtype=np.uint8))
x, y = load("train")
rf = RandomForestClassifier(n_estimators=100, n_jobs=2, min_samples_leaf=leaf,
                            class_weight="balanced_subsample", random_state=42)
t = time.perf_counter()
rf.fit(x, y)
fit = time.perf_counter() - t
n_train = len(y)
del x, y
(tx, ty), (sx, sy) = load("tune"), load("test")
pt = rf.predict_proba(tx)[:, 1]
thr = max((s / 100 for s in range(5, 96)), key=lambda s: f1_score(ty, pt >= s))
p = rf.predict_proba(sx)[:, 1]
row = sx[:1]
t = time.perf_counter()
for _ in range(50):
    rf.predict_proba(row)
per_row_us = (time.perf_counter() - t) / 50 * 1e6
print(json.dumps({"impl": "scikit-learn", "fit_seconds": round(fit, 3), "train_rows": int(n_train),
                  "threshold": thr, "f1": round(f1_score(sy, p >= thr), 4),
                  "roc_auc": round(roc_auc_score(sy, p), 4), "brier": round(brier_score_loss(sy, p), 4),
                  "predict_row_us": round(per_row_us, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
