"""Calibrate site ``confidence`` on the accuracy benchmark: fit on tuning seeds, check on held-out.

What it does
------------
1. For every scenario × seed × method it runs the real pipeline on the generated scene (the
   same scenes and pipeline files as ``geomon benchmark accuracy``; scenes are generated into
   ``OUT/scenes`` when missing, runs go to ``OUT/work``), keeps each site's confidence features
   (:attr:`geomon.vectorize.Sites.features`) and labels each site against the scene's truth with
   :func:`geomon.scoring.label_sites`: *real* when at least half of its area is truth mining (new
   or active digging in an assessed period). Per-run tables are cached as
   ``OUT/work/<scenario>-<seed>/<method>-sites.csv``; delete them to re-run.
2. Per method, on the **tuning seeds only** (``--fit-seeds``, which must lie in
   :data:`geomon.benchmark.TUNING_SEEDS`, 1–10), it fits a logistic regression of *real* on the
   features (L2-penalised on standardised features, every coefficient constrained >= 0 so the
   confidence is monotone in each feature). When fewer than 3 fit sites are real (or fewer than
   3 are not), it stores a constant instead: the share of real sites, (real + 0.5) / (n + 1).
3. On the **held-out seeds** (``--test-seeds``, default 101 102 201 202; never fitted on) it
   reports the Brier score, the expected calibration error (ECE, ``--bins`` equal-width bins)
   and a reliability table (bin, mean predicted, observed share, count) of the old heuristic
   confidence and of the calibrated one.
4. With ``--write`` it writes the coefficients and their provenance (seeds, scenarios, counts,
   method, date, geomon version and commit, held-out figures) to
   ``geomon/confidence_calibration.json``, the package data :mod:`geomon.confidence` reads.

How to re-fit (e.g. after a detector change; from the repository root)::

    rm -f /tmp/calib-bench/work/*/*-sites.csv      # the cached features were made by the old code
    PYTHONPATH=. python benchmarks/calibrate_confidence.py --out /tmp/calib-bench --write \\
        --report /tmp/calib-bench/report.md

``--write`` replaces the entries of the methods it fitted and keeps the others. The harmonic
method needs a year of baseline: ``--methods harmonic --baseline-periods 4``.

A new detection method is calibrated by adding it to ``--methods``; until then its sites get
the uncalibrated heuristic, flagged ``confidence_basis = "heuristic"``. Commit the JSON file
together with the report figures (README, "Outputs").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import geomon
from geomon.benchmark import TUNING_SEEDS, write_scene_pipeline
from geomon.confidence import DATA_FILE, FEATURES, Calibration, feature_matrix
from geomon.scoring import (
    REAL_SITE_SHARE,
    brier_score,
    expected_calibration_error,
    label_sites,
    reliability_table,
)

log = logging.getLogger("calibrate_confidence")

SCENARIOS = ("seguela", "marange", "tortiya", "quiet")
START, END, SIZE = "2023-01-01", "2024-12-31", 256
DEFAULT_FEATURES = ("mean_score", "persistence", "log10_area_ha")
MIN_CLASS = 3  # fewer real (or not real) fit sites than this: a constant, not a regression


def collect(out: Path, scenario: str, seed: int, method: str, *, baseline_periods: int = 1
            ) -> pd.DataFrame:
    """Sites of one benchmark run with their features and truth labels (cached as CSV)."""
    work = out / "work" / f"{scenario}-{seed}"
    suffix = "" if baseline_periods == 1 else f"-b{baseline_periods}"
    cache = work / f"{method}{suffix}-sites.csv"
    if cache.exists():
        return pd.read_csv(cache)
    import geomon.pipeline as pipeline
    import geomon.report as report
    from geomon.sample import generate_scene, load_scene

    root = out / "scenes" / f"{scenario}-{seed}-{SIZE}-{START}-{END}"
    scene = (load_scene(root) if (root / "scene.json").exists() else
             generate_scene(root, scenario=scenario, seed=seed, size=SIZE, start=START, end=END))
    pipe = write_scene_pipeline(work, scene, name=f"{scenario}-{seed}-{method}{suffix}",
                                start=START, end=END, detection={"method": method},
                                baseline_periods=baseline_periods)
    captured = []
    real_vectorize = pipeline.vectorize

    def capture(*args, **kwargs):
        sites = real_vectorize(*args, **kwargs)
        captured.append(sites.features)
        return sites

    class NoReport:  # maps and report PDF: slow and not needed here
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def write(self) -> None:
            pass

    real_report = report.Report
    pipeline.vectorize, report.Report = capture, NoReport
    try:
        result = pipeline.run_pipeline(pipe)
    finally:
        pipeline.vectorize, report.Report = real_vectorize, real_report
    labels = label_sites(result.run_dir, root)
    feats = captured[0].reset_index()
    labels = pd.DataFrame(labels[["id", "truth_share", "real"]]).astype({"id": str})
    table = feats.astype({"id": str}).merge(labels, on="id", how="left", validate="one_to_one")
    if table["real"].isna().any():
        raise RuntimeError(f"sites of {result.run_dir} missing from detections.geojson")
    table.insert(0, "method", method)
    table.insert(0, "seed", seed)
    table.insert(0, "scenario", scenario)
    table["run_dir"] = str(result.run_dir)
    cache.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(cache, index=False)
    return table


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0) -> tuple[float, np.ndarray]:
    """Intercept and coefficients (raw feature units), coefficients >= 0.

    Minimises the summed log loss + ``l2 / 2 · ||w||²`` over standardised features ``w``.
    """
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd
    y = y.astype(float)

    def loss(theta):
        b0, w = theta[0], theta[1:]
        eta = b0 + z @ w
        p = 1 / (1 + np.exp(-eta))
        value = np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * l2 * w @ w
        r = p - y
        return value, np.concatenate([[r.sum()], z.T @ r + l2 * w])

    k = x.shape[1]
    res = minimize(loss, np.zeros(k + 1), jac=True, method="L-BFGS-B",
                   bounds=[(None, None)] + [(0, None)] * k)
    if not res.success:
        raise RuntimeError(f"logistic fit did not converge: {res.message}")
    w = res.x[1:] / sd
    return float(res.x[0] - np.sum(w * mu)), np.maximum(w, 0.0)


def evaluate(p: np.ndarray, y: np.ndarray, bins: int) -> dict:
    return {"n": len(y), "n_real": int(y.sum()), "brier": brier_score(p, y),
            "ece": expected_calibration_error(p, y, bins=bins),
            "table": [vars(b) for b in reliability_table(p, y, bins=bins)]}


def format_table(ev: dict) -> str:
    lines = ["bin          mean predicted  observed share  count"]
    for b in ev["table"]:
        if b["count"]:
            lines.append(f"[{b['lo']:.1f}, {b['hi']:.1f}{']' if b['hi'] >= 1 else ')'}   "
                         f"{b['mean_predicted']:14.3f}  {b['observed']:14.3f}  {b['count']:5d}")
    return "\n".join(lines)


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(geomon.__file__).parent,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/calib-bench"))
    ap.add_argument("--fit-seeds", type=int, nargs="+", default=list(TUNING_SEEDS))
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102, 201, 202])
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--methods", nargs="+", default=["rules", "naive"])
    ap.add_argument("--baseline-periods", type=int, default=1,
                    help="quarters of baseline for every method run (harmonic needs 4)")
    ap.add_argument("--features", nargs="+", default=list(DEFAULT_FEATURES), choices=FEATURES)
    ap.add_argument("--l2", type=float, default=1.0, help="L2 penalty on standardised weights")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--write", action="store_true", help=f"write geomon/{DATA_FILE}")
    ap.add_argument("--report", type=Path, help="also write the report (markdown) here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not set(args.fit_seeds) <= set(TUNING_SEEDS):
        ap.error(f"--fit-seeds must be tuning seeds {TUNING_SEEDS}; held-out seeds stay unseen")
    if set(args.fit_seeds) & set(args.test_seeds):
        ap.error("fit and test seeds overlap")
    out = args.out.resolve()
    features = tuple(args.features)

    tables = []
    for method in args.methods:
        for seed in [*args.fit_seeds, *args.test_seeds]:
            for scenario in args.scenarios:
                t = collect(out, scenario, seed, method,
                            baseline_periods=args.baseline_periods)
                print(f"{method:6s} {scenario:8s} seed {seed:3d}: {len(t):3d} sites, "
                      f"{int(t['real'].sum()) if len(t) else 0} real", file=sys.stderr)
                tables.append(t)
    data = pd.concat(tables, ignore_index=True)
    data["real"] = data["real"].astype(bool)

    today = dt.date.today().isoformat()
    doc = {"about": "Site confidence calibrations per detection method (geomon.confidence); "
                    "written by benchmarks/calibrate_confidence.py", "methods": {}}
    report = [f"# Site confidence calibration ({today}, geomon {geomon.__version__})", "",
              f"Label: a site is real when >= {REAL_SITE_SHARE:.0%} of its area is truth mining "
              "(new/active digging in an assessed period).",
              f"Fit seeds {args.fit_seeds}, held-out seeds {args.test_seeds}, scenarios "
              f"{args.scenarios}; features {list(features)}; L2 {args.l2}; {args.bins} bins.", ""]
    for method in args.methods:
        d = data[data["method"] == method]
        fit, test = d[d["seed"].isin(args.fit_seeds)], d[d["seed"].isin(args.test_seeds)]
        y_fit, y_test = fit["real"].to_numpy(), test["real"].to_numpy()
        if not len(fit):
            report += [f"## {method}", "", "not calibrated: no sites on the fit seeds", ""]
            continue
        if min(y_fit.sum(), (~y_fit).sum()) < MIN_CLASS:
            # too few of one class to fit slopes: a constant, the share of real sites with a
            # Jeffreys prior, (real + 0.5) / (n + 1)
            share = (y_fit.sum() + 0.5) / (len(y_fit) + 1)
            intercept, coef = float(np.log(share / (1 - share))), np.zeros(len(features))
            model = (f"constant (fewer than {MIN_CLASS} sites of one class): Jeffreys estimate "
                     "(real + 0.5) / (n + 1) of the share of real sites")
        else:
            intercept, coef = fit_logistic(feature_matrix(fit, features), y_fit, l2=args.l2)
            model = ("logistic regression, L2-penalised on standardised features "
                     f"(l2={args.l2}), coefficients >= 0")
        before = evaluate(test["heuristic"].to_numpy(), y_test, args.bins)
        provisional = Calibration(method, features, tuple(float(c) for c in coef), intercept)
        after = evaluate(provisional.predict(test), y_test, args.bins)
        in_fit = evaluate(provisional.predict(fit), y_fit, args.bins)
        provenance = {
            "fitted": today, "geomon_version": geomon.__version__, "geomon_commit": git_commit(),
            "model": model,
            "label": f"real when >= {REAL_SITE_SHARE} of the site's area is truth mining "
                     "(truth_periods codes 1/2 in an assessed period)",
            "benchmark": f"geomon benchmark accuracy scenes, {SIZE} px, {START}..{END}, quarterly, "
                         f"{args.baseline_periods} baseline quarter(s)",
            "scenarios": list(args.scenarios),
            "fit_seeds": list(args.fit_seeds), "n_fit": len(fit),
            "n_fit_real": int(y_fit.sum()),
            "test_seeds": list(args.test_seeds), "n_test": len(test),
            "n_test_real": int(y_test.sum()),
            "held_out": {"brier_heuristic": round(before["brier"], 4),
                         "brier_calibrated": round(after["brier"], 4),
                         "ece_heuristic": round(before["ece"], 4),
                         "ece_calibrated": round(after["ece"], 4), "bins": args.bins},
        }
        cal = Calibration(method, features, tuple(round(float(c), 6) for c in coef),
                          round(intercept, 6), provenance)
        doc["methods"][method] = cal.to_dict()
        terms = " + ".join(f"{c:.3f}·{f}" for f, c in zip(features, cal.coefficients,
                                                          strict=True))
        report += [
            f"## {method}", "",
            f"fit: {len(fit)} sites ({int(y_fit.sum())} real) on seeds {args.fit_seeds}; "
            f"held out: {len(test)} sites ({int(y_test.sum())} real)",
            f"logit p = {cal.intercept:.3f} + {terms}", "",
            "| held-out | Brier | ECE |", "|---|---|---|",
            f"| heuristic (before) | {before['brier']:.4f} | {before['ece']:.4f} |",
            f"| calibrated (after) | {after['brier']:.4f} | {after['ece']:.4f} |",
            f"| (calibrated, on its own fit set) | {in_fit['brier']:.4f} | {in_fit['ece']:.4f} |",
            "", "Reliability, held out, heuristic:", "```", format_table(before), "```",
            "Reliability, held out, calibrated:", "```", format_table(after), "```", "",
        ]
        by = test.assign(p=provisional.predict(test)).groupby("scenario")
        report += ["Held out per scenario (sites, real share, mean calibrated, mean heuristic):",
                   "```"]
        for sc, g in by:
            report.append(f"{sc:8s} {len(g):4d}  {g['real'].mean():.3f}  {g['p'].mean():.3f}  "
                          f"{g['heuristic'].mean():.3f}")
        report += ["```", ""]
    text = "\n".join(report)
    print(text)
    if args.report:
        args.report.write_text(text + "\n")
        data.to_csv(args.report.with_suffix(".sites.csv"), index=False)
    if args.write:
        path = Path(geomon.__file__).parent / DATA_FILE
        kept = json.loads(path.read_text()).get("methods", {}) if path.exists() else {}
        doc["methods"] = {**kept, **doc["methods"]}  # methods not re-fitted keep theirs
        path.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
