#!/usr/bin/env python3
"""The probe behind feature schema 3: do neighbour stations' same-day
observations improve schema 2's 50 features (the first 50 columns of any
later export)? scikit-learn's
HistGradientBoostingClassifier (500 iterations, learning rate 0.05, station
categorical) with and without 12 neighbour features, seeds 42, 1 and 2, on the
main split and the one-year-earlier backtest; then permutation importance.

Run through bench/neighbour_probe.sh, or on an export of your own:
  forest_bench export data/weatherAUS.csv.gz DIR
  OMP_NUM_THREADS=2 python3 bench/neighbour_probe.py DIR [--coords csv|model]
      [--nb-cols a,b,...] [--no-backtest] [--no-perm] [--out FILE]
      [--write-schema2 DIR2]

  --write-schema2 DIR2  write DIR's export cut to schema 2's 50 columns (for
                 `forest_bench boost DIR2`, against the full export) and stop.

  --coords csv   (default) coordinates from data/bom/stations.csv; the three
                 stations without them (CoffsHarbour, Adelaide, Witchcliffe)
                 get NaN neighbour features and are nobody's neighbour.
  --coords model coordinates from matrix columns 25/26 (Station::model_coords,
                 which gives those three nearby sites).

A row (station s, day d) reads only other stations' observations dated d
(and d - 1 for a 24 h pressure change) from data/weatherAUS.csv.gz: nothing
dated d + 1 or later. Needs numpy and scikit-learn >= 1.4.
"""
import argparse, csv, gzip, os, sys, time, datetime as dt

os.environ.setdefault("OMP_NUM_THREADS", "2")
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score, brier_score_loss, log_loss, f1_score
from sklearn.inspection import permutation_importance

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
STATIONS = os.path.join(ROOT, "data", "bom", "stations.csv")
WAUS = os.path.join(ROOT, "data", "weatherAUS.csv.gz")
FB = None  # the export directory, from the command line
SEEDS = [42, 1, 2]
BASE_NAMES = [  # src/features/mod.rs NAMES (schema 2)
    "MinTemp", "MaxTemp", "Rainfall", "Evaporation", "Sunshine", "WindGustSpeed",
    "WindSpeed9am", "WindSpeed3pm", "Humidity9am", "Humidity3pm", "Pressure9am",
    "Pressure3pm", "Cloud9am", "Cloud3pm", "Temp9am", "Temp3pm", "WindGustDir_sin",
    "WindGustDir_cos", "WindDir9am_sin", "WindDir9am_cos", "WindDir3pm_sin",
    "WindDir3pm_cos", "DayOfYear_sin", "DayOfYear_cos", "RainToday", "Latitude",
    "Longitude", "Rainfall_yesterday", "Humidity3pm_yesterday", "Pressure3pm_change_24h",
    "Pressure_change_9am_3pm", "MaxTemp_change_24h", "Temp_rise_9am_3pm",
    "Humidity_change_9am_3pm", "Rain_streak_days", "Days_since_rain", "Rainfall_7d",
    "Rain_days_7d", "Month", "Station", "Rainfall_3d", "Rainfall_14d",
    "Humidity3pm_change_3d", "Pressure3pm_change_3d", "WindDir3pm_yesterday_sin",
    "WindDir3pm_yesterday_cos", "Cloud_change_9am_3pm", "DewPoint_depression_3pm",
    "DewPoint3pm", "Humidity9am_yesterday"]
NB_NAMES = [
    "nb_nn1_rain_mm", "nb_nn2_rain_mm", "nb_nn3_rain_mm", "nb_nn3_rainfrac",
    "nb_frac_rain_300km", "nb_frac_rain_800km", "nb_frac_rain_west_800km",
    "nb_frac_rain_west_1500km", "nb_dP3pm_500km", "nb_dP3pm_chg24h_500km",
    "nb_hum3pm_west_800km", "nb_idw_rain_1000km"]


def log(*a, out=None):
    s = " ".join(str(v) for v in a)
    print(s, flush=True)
    if out is not None:
        out.write(s + "\n"); out.flush()


def load(split):
    width = int(open(f"{FB}/n_features").read())
    x = np.fromfile(f"{FB}/{split}_x.f32", dtype="<f4").reshape(-1, width)[:, :50]
    y = np.fromfile(f"{FB}/{split}_y.u8", dtype=np.uint8).astype(int)
    d = np.fromfile(f"{FB}/{split}_day.i32", dtype="<i4").astype(np.int64)
    assert len(x) == len(y) == len(d)
    return x, y, d


def read_stations():
    locs, lat, lon = [], [], []
    with open(STATIONS) as f:
        for r in csv.DictReader(f):
            locs.append(r["location"])
            lat.append(float(r["latitude"]) if r["latitude"] else np.nan)
            lon.append(float(r["longitude"]) if r["longitude"] else np.nan)
    return locs, np.array(lat), np.array(lon)


def read_obs(locs, d0, nd):
    """obs[var][station, day-d0]; NaN when missing."""
    idx = {l: i for i, l in enumerate(locs)}
    vars_ = ["Rainfall", "RainToday", "Pressure3pm", "Humidity3pm"]
    obs = {v: np.full((len(locs), nd), np.nan) for v in vars_}
    unknown = set()
    with gzip.open(WAUS, "rt") as f:
        for r in csv.DictReader(f):
            s = idx.get(r["Location"])
            if s is None:
                unknown.add(r["Location"]); continue
            t = dt.date.fromisoformat(r["Date"]).toordinal() - d0
            if not (0 <= t < nd):
                continue
            for v in ("Rainfall", "Pressure3pm", "Humidity3pm"):
                if r[v] not in ("NA", ""):
                    obs[v][s, t] = float(r[v])
            if r["RainToday"] in ("Yes", "No"):
                obs["RainToday"][s, t] = 1.0 if r["RainToday"] == "Yes" else 0.0
    return obs, unknown


def haversine_km(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    dla = la[:, None] - la[None, :]
    dlo = lo[:, None] - lo[None, :]
    a = np.sin(dla / 2) ** 2 + np.cos(la[:, None]) * np.cos(la[None, :]) * np.sin(dlo / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def nanmean_rows(a, mask):
    """a: (S, T) values; mask: bool (S,). mean over masked stations, ignoring NaN."""
    if not mask.any():
        return np.full(a.shape[1], np.nan)
    sub = a[mask]
    cnt = np.sum(~np.isnan(sub), axis=0)
    s = np.nansum(sub, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def build_grid(obs, lat, lon):
    """Neighbour features on the full (station, day) grid: (S, T, F)."""
    S, T = obs["Rainfall"].shape
    D = haversine_km(lat, lon)  # NaN where coords missing
    rain, rt, p3, h3 = obs["Rainfall"], obs["RainToday"], obs["Pressure3pm"], obs["Humidity3pm"]
    pchg = np.full_like(p3, np.nan)
    pchg[:, 1:] = p3[:, 1:] - p3[:, :-1]  # day d minus day d-1 (same station)
    G = np.full((S, T, len(NB_NAMES)), np.nan)
    nbinfo = {}
    for s in range(S):
        if np.isnan(lat[s]) or np.isnan(lon[s]):
            continue
        d = D[s].copy(); d[s] = np.nan
        ok = ~np.isnan(d)
        order = np.argsort(np.where(ok, d, np.inf))[:3]
        nbinfo[s] = [(int(o), float(d[o])) for o in order]
        for k, o in enumerate(order):
            G[s, :, k] = rain[o]
        G[s, :, 3] = nanmean_rows(rt, np.isin(np.arange(S), order))
        west = ok & (lon < lon[s])
        G[s, :, 4] = nanmean_rows(rt, ok & (d <= 300))
        G[s, :, 5] = nanmean_rows(rt, ok & (d <= 800))
        G[s, :, 6] = nanmean_rows(rt, west & (d <= 800))
        G[s, :, 7] = nanmean_rows(rt, west & (d <= 1500))
        m500 = ok & (d <= 500)
        G[s, :, 8] = nanmean_rows(p3, m500) - p3[s]
        G[s, :, 9] = nanmean_rows(pchg, m500) - pchg[s]
        G[s, :, 10] = nanmean_rows(h3, west & (d <= 800))
        m1000 = ok & (d <= 1000)
        if m1000.any():
            w = 1.0 / np.maximum(d[m1000], 10.0) ** 2
            sub = rain[m1000]
            have = ~np.isnan(sub)
            num = np.nansum(sub * w[:, None], axis=0)
            den = np.sum(have * w[:, None], axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                G[s, :, 11] = np.where(den > 0, num / den, np.nan)
    return G, nbinfo


def best_f1_threshold(y, p):
    ts = np.linspace(0.05, 0.95, 181)
    f = [f1_score(y, p >= t) for t in ts]
    i = int(np.argmax(f))
    return float(ts[i]), float(f[i])


def metrics(y, p, thr):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return dict(auc=roc_auc_score(y, p), brier=brier_score_loss(y, p),
                logloss=log_loss(y, p), f1=f1_score(y, p >= thr))


def fit(x, y, seed):
    m = HistGradientBoostingClassifier(max_iter=500, learning_rate=0.05,
                                       random_state=seed, categorical_features=[39])
    m.fit(x, y)
    return m


def run_split(name, tr, tu, te, out):
    """tr/tu/te: (xbase, xnb, y). Returns per-variant list of per-seed dicts."""
    res = {"base": [], "nb": []}
    models = {}
    for variant in ("base", "nb"):
        def X(part):
            return part[0] if variant == "base" else np.hstack([part[0], part[1]])
        for seed in SEEDS:
            t0 = time.time()
            m = fit(X(tr), tr[2], seed)
            ptu = m.predict_proba(X(tu))[:, 1]
            pte = m.predict_proba(X(te))[:, 1]
            thr, _ = best_f1_threshold(tu[2], ptu)
            r = {"thr": thr, "n_iter": m.n_iter_,
                 "tune": metrics(tu[2], ptu, thr), "test": metrics(te[2], pte, thr)}
            res[variant].append(r)
            models[(variant, seed)] = m
            log(f"[{name}] {variant:4s} seed={seed:2d} iters={m.n_iter_:3d} thr={thr:.3f} "
                f"tune auc={r['tune']['auc']:.4f} brier={r['tune']['brier']:.4f} ll={r['tune']['logloss']:.4f} f1={r['tune']['f1']:.4f} | "
                f"test auc={r['test']['auc']:.4f} brier={r['test']['brier']:.4f} ll={r['test']['logloss']:.4f} f1={r['test']['f1']:.4f} "
                f"({time.time()-t0:.0f}s)", out=out)
    return res, models


def summarize(name, res, labels, out):
    log(f"\n=== {name}: mean ± sd over seeds {SEEDS} ===", out=out)
    log(f"{'variant':6s} {'part':5s} {'':>4s} " + " ".join(f"{k:>16s}" for k in ("AUC", "Brier", "LogLoss", "F1@tuneThr")), out=out)
    for part, lab in zip(("tune", "test"), labels):
        for variant in ("base", "nb"):
            cells = []
            for k in ("auc", "brier", "logloss", "f1"):
                v = np.array([r[part][k] for r in res[variant]])
                cells.append(f"{v.mean():.4f}±{v.std(ddof=1):.4f}")
            log(f"{variant:6s} {lab:5s} {'':>4s} " + " ".join(f"{c:>16s}" for c in cells), out=out)
        cells = []
        for k in ("auc", "brier", "logloss", "f1"):
            dv = np.array([rn[part][k] - rb[part][k] for rb, rn in zip(res["base"], res["nb"])])
            cells.append(f"{dv.mean():+.4f}±{dv.std(ddof=1):.4f}")
        log(f"{'delta':6s} {lab:5s} {'':>4s} " + " ".join(f"{c:>16s}" for c in cells) + "   (nb - base, paired by seed)", out=out)


def main():
    global FB
    ap = argparse.ArgumentParser()
    ap.add_argument("export", help="a directory written by `forest_bench export`")
    ap.add_argument("--coords", choices=["csv", "model"], default="csv")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-backtest", action="store_true")
    ap.add_argument("--no-perm", action="store_true")
    ap.add_argument("--write-schema2", default=None,
                    help="write the export cut to schema 2's 50 columns here and stop")
    ap.add_argument("--nb-cols", default=None,
                    help="comma list of neighbour feature names to keep (ablation); default all 12")
    a = ap.parse_args()
    FB = a.export
    out = open(a.out, "w") if a.out else None
    t00 = time.time()
    log(f"neighbour_probe.py  coords={a.coords}  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}  "
        f"started {dt.datetime.now():%Y-%m-%d %H:%M}", out=out)

    parts = {s: load(s) for s in ("train", "tune", "test")}
    locs, lat, lon = read_stations()
    assert len(locs) == 49
    if a.coords == "model":
        xt = parts["train"][0]
        for s in range(49):
            r = xt[xt[:, 39] == s][0]
            lat[s], lon[s] = float(r[25]), float(r[26])
    missing = [locs[i] for i in range(49) if np.isnan(lat[i])]
    log(f"stations without coordinates (NaN neighbour features): {missing}", out=out)

    alld = np.concatenate([p[2] for p in parts.values()])
    d0, d1 = int(alld.min()) - 1, int(alld.max())
    nd = d1 - d0 + 1
    obs, unknown = read_obs(locs, d0, nd)
    log(f"CSV locations not in stations.csv: {sorted(unknown)}", out=out)

    # sanity: the matrix's own Rainfall (col 2) / Pressure3pm (col 11) should equal CSV values
    for sname, (x, y, d) in parts.items():
        st = x[:, 39].astype(int)
        for col, v in ((2, "Rainfall"), (11, "Pressure3pm")):
            c = obs[v][st, d - d0]
            both = ~np.isnan(c) & ~np.isnan(x[:, col])
            agree = np.mean(np.abs(c[both] - x[both, col]) < 0.051)
            nan_agree = np.mean(np.isnan(c) == np.isnan(x[:, col]))
            log(f"sanity {sname}: col{col} {v} matches CSV on {agree*100:.3f}% of {both.sum()} rows; "
                f"missingness agrees {nan_agree*100:.3f}%", out=out)
        # also label check: y == RainToday(d+1)
        c = obs["RainToday"][st, np.minimum(d - d0 + 1, nd - 1)]
        ok = ~np.isnan(c)
        log(f"sanity {sname}: y equals CSV RainToday(d+1) on {np.mean(c[ok]==y[ok])*100:.3f}% of {ok.sum()} rows", out=out)

    G, nbinfo = build_grid(obs, lat, lon)
    log("nearest 3 per station: " + "; ".join(
        f"{locs[s]}->" + ",".join(f"{locs[o]}({dd:.0f}km)" for o, dd in nbinfo[s]) for s in sorted(nbinfo)), out=out)

    def nbfeat(x, d):
        return G[x[:, 39].astype(int), d - d0].astype(np.float32)

    P = {s: (x, nbfeat(x, d), y, d) for s, (x, y, d) in parts.items()}
    if a.nb_cols:
        keep = [NB_NAMES.index(c) for c in a.nb_cols.split(",")]
        NB_NAMES[:] = [NB_NAMES[i] for i in keep]
        P = {s: (x, n[:, keep], y, d) for s, (x, n, y, d) in P.items()}
        log(f"ablation: neighbour features kept = {NB_NAMES}", out=out)
    if a.write_schema2:
        os.makedirs(a.write_schema2, exist_ok=True)
        for s, (x, n, y, d) in P.items():
            x.astype("<f4").tofile(os.path.join(a.write_schema2, f"{s}_x.f32"))
            y.astype(np.uint8).tofile(os.path.join(a.write_schema2, f"{s}_y.u8"))
            d.astype("<i4").tofile(os.path.join(a.write_schema2, f"{s}_day.i32"))
        with open(os.path.join(a.write_schema2, "n_features"), "w") as f:
            f.write("50")
        log(f"wrote {a.write_schema2}: schema 2's 50 features", out=out)
        return
    for s, (x, n, y, d) in P.items():
        log(f"{s}: n={len(y)} rain rate={y.mean():.4f} nb-feature NaN rate per feature: " +
            " ".join(f"{v:.3f}" for v in np.isnan(n).mean(0)), out=out)

    # main split
    res_main, models = run_split("main", *(P[s][:3] for s in ("train", "tune", "test")), out=out)
    summarize("MAIN split (train<2015, tune=2015, test=2016-01-01..2017-06-25)", res_main, ("tune", "test"), out)

    # backtest: union train+tune, train<2014, tune=2014, test=2015
    if not a.no_backtest:
        xb = np.vstack([P["train"][0], P["tune"][0]])
        nb = np.vstack([P["train"][1], P["tune"][1]])
        yb = np.concatenate([P["train"][2], P["tune"][2]])
        db = np.concatenate([P["train"][3], P["tune"][3]])
        y14, y15, y16 = (dt.date(yr, 1, 1).toordinal() for yr in (2014, 2015, 2016))
        m_tr, m_tu, m_te = db < y14, (db >= y14) & (db < y15), (db >= y15) & (db < y16)
        log(f"\nbacktest sizes: train={m_tr.sum()} tune2014={m_tu.sum()} test2015={m_te.sum()}", out=out)
        res_bt, _ = run_split("backtest", *((xb[m], nb[m], yb[m]) for m in (m_tr, m_tu, m_te)), out=out)
        summarize("BACKTEST (train<2014, tune=2014, test=2015)", res_bt, ("tune14", "test15"), out)

    # permutation importance on tune for the with-neighbour model (main split, seed 42)
    if not a.no_perm:
        m = models[("nb", 42)]
        Xtu = np.hstack([P["tune"][0], P["tune"][1]])
        names = BASE_NAMES + NB_NAMES
        for scoring in ("neg_log_loss", "roc_auc"):
            t0 = time.time()
            pi = permutation_importance(m, Xtu, P["tune"][2], scoring=scoring, n_repeats=5,
                                        random_state=0, n_jobs=1)
            order = np.argsort(-pi.importances_mean)
            log(f"\n=== permutation importance on tune (main split, nb model seed 42, {scoring}, 5 repeats; {time.time()-t0:.0f}s) ===", out=out)
            for r, i in enumerate(order[:15]):
                log(f"{r+1:2d}. {names[i]:28s} {pi.importances_mean[i]:.5f} ± {pi.importances_std[i]:.5f}", out=out)
            log("neighbour features only (rank among all features):", out=out)
            rank = {i: r + 1 for r, i in enumerate(order)}
            for i in sorted(range(50, 50 + len(NB_NAMES)), key=lambda i: rank[i]):
                log(f"   #{rank[i]:2d} {names[i]:28s} {pi.importances_mean[i]:.5f} ± {pi.importances_std[i]:.5f}", out=out)
    log(f"\ntotal wall time {time.time()-t00:.0f}s", out=out)


if __name__ == "__main__":
    main()
