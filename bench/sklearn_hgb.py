"""scikit-learn's side of the boosting half of bench/forest_vs_sklearn.sh: fit
HistGradientBoostingClassifier (defaults, which early-stop on a 10 % split of
the training rows and stop at 100 trees; or, with `tuned` as the second
argument, 500 iterations at learning rate 0.05 as in issue 13's table) on the
exact matrices raincast's encoder exported, tune the threshold on the tune
window like raincast does (on raw probabilities:
scikit-learn's model is not calibrated), and print the same metrics as JSON."""
import json, resource, sys, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score, roc_auc_score, brier_score_loss

d = sys.argv[1]
n = int(open(f"{d}/n_features").read())
load = lambda name: (np.fromfile(f"{d}/{name}_x.f32", dtype="<f4").reshape(-1, n),
                     np.fromfile(f"{d}/{name}_y.u8", dtype=np.uint8))
x, y = load("train")
tuned = len(sys.argv) > 2 and sys.argv[2] == "tuned"
m = (HistGradientBoostingClassifier(max_iter=500, learning_rate=0.05, random_state=42) if tuned
     else HistGradientBoostingClassifier(random_state=42))
t = time.perf_counter()
m.fit(x, y)
fit = time.perf_counter() - t
n_train = len(y)
del x, y
(tx, ty), (sx, sy) = load("tune"), load("test")
pt = m.predict_proba(tx)[:, 1]
thr = max((s / 100 for s in range(5, 96)), key=lambda s: f1_score(ty, pt >= s))
p = m.predict_proba(sx)[:, 1]
print(json.dumps({"impl": "sklearn HGB 500/0.05" if tuned else "scikit-learn HGB", "fit_seconds": round(fit, 3), "train_rows": int(n_train),
                  "trees": int(m.n_iter_), "threshold": thr, "f1": round(f1_score(sy, p >= thr), 4),
                  "roc_auc": round(roc_auc_score(sy, p), 4), "brier": round(brier_score_loss(sy, p), 4),
                  "mean_forecast": round(float(p.mean()), 4), "observed": round(float(sy.mean()), 4),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
