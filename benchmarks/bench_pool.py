"""Benchmark: pooling many meta-analyses at once, against loops over statsmodels and metafor.

Run from the repository root:

    python benchmarks/bench_pool.py            # about 1 minute on 2 cores
    python benchmarks/bench_pool.py --no-r     # skip rerunning metafor_loop.R

What is timed (wall clock, time.perf_counter, best of N):

* ``synthesis.pool_batch(df, method="REML", hksj=True, pi="hts")`` on 10,000
  meta-analyses of k = 10: REML tau², HKSJ CI, Q-profile CI for tau², I², H²
  with CIs, Q and the prediction interval for every analysis;
* a Python loop over ``statsmodels.stats.meta_analysis.combine_effects(yi, vi,
  method_re="iterated")`` on the first 1,000, extrapolated x10. statsmodels
  has no REML: "iterated" is Paule-Mandel, and it gives no CI for tau² and no
  prediction interval, so it does less work per analysis;
* a loop over ``synthesis.pool`` (the single-analysis path) on the first 200,
  extrapolated x50, to show what the batch path saves;
* R's metafor (rma REML + knha, confint, predict) in a loop: read from
  benchmarks/metafor_loop_result.json and, when Rscript with metafor is
  available, rerun on this machine (in a temporary folder, so the stored JSON
  is not touched);
* ``python -m synthesis pool FILE --json`` as a subprocess on a 1,000-study CSV
  (yi/vi layout, and two-group counts with OR REML).

It also checks that the batch numbers equal the single path exactly on a
random sample of 20 analyses, and reports peak memory of the batch run.
This is a script, not a test: nothing here fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import synthesis  # noqa: E402

N_SETS = 10_000
K = 10
N_STATSMODELS = 1_000
N_SINGLE = 200
N_CHECK = 20
N_CSV = 1_000


# --- helpers ---------------------------------------------------------------------


def best_of(fn, repeat: int) -> tuple[float, list[float], object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, out


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import scipy
    import statsmodels

    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "statsmodels": statsmodels.__version__,
    }


def fmt_s(x: float | None) -> str:
    if x is None:
        return "—"
    if x < 1e-2:
        return f"{x * 1000:.2f} ms"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def make_data() -> tuple[np.ndarray, np.ndarray]:
    # the design of metafor_loop.R: vi ~ U(0.01, 0.2), yi ~ N(0.2, 0.3² + vi); vi first
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 0.2, size=(N_SETS, K))
    yi = rng.normal(0.2, np.sqrt(0.09 + vi))
    return yi, vi


# --- the parts -------------------------------------------------------------------


def bench_batch(df: pd.DataFrame) -> dict:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    t, times, out = best_of(lambda: synthesis.pool_batch(df, method="REML", hksj=True, pi="hts"), 7)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    synthesis.pool_batch(df, method="REML", hksj=True, pi="hts")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(out) == N_SETS
    return {"seconds": t, "all_seconds": times, "result": out,
            "tracemalloc_peak_mb": peak / 2**20,
            "rss_peak_mb": rss_after / 1024, "rss_before_mb": rss_before / 1024}


def bench_breakdown(df: pd.DataFrame, yi: np.ndarray, vi: np.ndarray) -> dict:
    """Where the batch time goes: other tau² methods, and the REML and Q-profile steps alone."""
    out: dict = {}
    for method in ("PM", "DL"):
        out[f"batch_{method}"] = best_of(lambda: synthesis.pool_batch(df, method=method), 5)[0]
    try:  # internals: only for the breakdown, skipped if they move
        from synthesis.estimators import Batch, tau2_qprofile_ci, tau2_reml

        b = Batch(yi, vi)
        t, _, fit = best_of(lambda: tau2_reml(b), 7)
        out["reml_tau2_only"] = t
        it = np.asarray(fit.iterations)
        conv = np.asarray(fit.converged, dtype=bool)
        out["reml_iterations"] = {
            "max": int(it.max()), "median": float(np.median(it)),
            "p99": float(np.percentile(it, 99)), "sum": int(it.sum()),
            "max_converged": int(it[conv].max()) if conv.any() else None,
            "not_converged": int((~conv).sum()),
        }
        out["qprofile_only"] = best_of(lambda: tau2_qprofile_ci(b), 7)[0]
    except Exception as exc:  # pragma: no cover - diagnostic only
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def bench_statsmodels(yi: np.ndarray, vi: np.ndarray) -> dict:
    from statsmodels.stats.meta_analysis import combine_effects

    def loop():
        for i in range(N_STATSMODELS):
            combine_effects(yi[i], vi[i], method_re="iterated")
        return None

    combine_effects(yi[0], vi[0], method_re="iterated")  # warm-up
    t, times, _ = best_of(loop, 5)
    return {"seconds": t, "all_seconds": times, "n": N_STATSMODELS,
            "extrapolated_10000": t * N_SETS / N_STATSMODELS}


def bench_paired(df: pd.DataFrame, yi: np.ndarray, vi: np.ndarray, rounds: int = 9) -> dict:
    """The batch and the statsmodels loop timed in alternation, round by round.

    On a shared machine the speed drifts by a factor of two within minutes;
    timing the two one right after the other, many times, puts both under the
    same conditions. Each round's ratio is statsmodels (1,000 analyses, x10)
    over the batch (10,000 analyses); the target is judged on the median.
    """
    from statsmodels.stats.meta_analysis import combine_effects

    batch_t, sm_t = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        synthesis.pool_batch(df, method="REML", hksj=True, pi="hts")
        batch_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for i in range(N_STATSMODELS):
            combine_effects(yi[i], vi[i], method_re="iterated")
        sm_t.append((time.perf_counter() - t0) * N_SETS / N_STATSMODELS)
    ratios = [s / b for s, b in zip(sm_t, batch_t)]
    return {"batch_seconds": batch_t, "statsmodels_seconds_10000": sm_t, "ratios": ratios,
            "median_ratio": float(np.median(ratios)), "min_ratio": float(min(ratios)),
            "best_vs_best": min(sm_t) / min(batch_t)}


def bench_single(yi: np.ndarray, vi: np.ndarray) -> dict:
    studies = [f"s{j + 1}" for j in range(K)]
    frames = [pd.DataFrame({"study": studies, "yi": yi[i], "vi": vi[i]}) for i in range(N_SINGLE)]

    def loop():
        for f in frames:
            synthesis.pool(f, measure="GEN", method="REML", hksj=True, pi="hts")

    synthesis.pool(frames[0], measure="GEN", method="REML")  # warm-up
    t, times, _ = best_of(loop, 3)
    return {"seconds": t, "all_seconds": times, "n": N_SINGLE,
            "extrapolated_10000": t * N_SETS / N_SINGLE}


def check_identical(batch: pd.DataFrame, yi: np.ndarray, vi: np.ndarray) -> dict:
    """Batch vs single path on a random sample: estimate and tau2 must be equal bit for bit."""
    rng = np.random.default_rng(2)
    idx = sorted(rng.choice(N_SETS, size=N_CHECK, replace=False).tolist())
    studies = [f"s{j + 1}" for j in range(K)]
    keys = ("estimate", "tau2", "se", "ci_lb", "ci_ub", "tau2_ci_lb", "tau2_ci_ub", "q", "i2",
            "pi_lb", "pi_ub")
    exact_fail, other_diff = [], []
    for i in idx:
        res = synthesis.pool(pd.DataFrame({"study": studies, "yi": yi[i], "vi": vi[i]}),
                             measure="GEN", method="REML", hksj=True, pi="hts")
        row = batch.iloc[i]
        for key in keys:
            a, b = getattr(res, key), float(row[key])
            same = a == b or (np.isnan(a) and np.isnan(b))
            if not same:
                (exact_fail if key in ("estimate", "tau2") else other_diff).append((i, key, a, b))
    return {"indices": idx, "exact_failures": exact_fail, "other_differences": other_diff}


def rerun_metafor() -> dict | None:
    """Run metafor_loop.R in a temporary folder (it writes its JSON to the working dir)."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    probe = subprocess.run([rscript, "-e", "suppressPackageStartupMessages({library(metafor); "
                            "library(jsonlite)})"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(HERE / "metafor_loop.R", tmp)
        proc = subprocess.run([rscript, "metafor_loop.R"], cwd=tmp, capture_output=True,
                              text=True, timeout=600)
        out = Path(tmp) / "metafor_loop_result.json"
        if proc.returncode != 0 or not out.is_file():
            print(f"  (metafor rerun failed: {proc.stderr.strip()[:300]})", file=sys.stderr)
            return None
        return json.loads(out.read_text())


def write_csvs(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    n = N_CSV
    vi = rng.uniform(0.01, 0.2, n)
    yi = rng.normal(0.2, np.sqrt(0.09 + vi))
    gen = folder / "yivi_1000.csv"
    with open(gen, "w") as fh:
        fh.write("study,yi,vi\n")
        for i in range(n):
            fh.write(f"study{i + 1},{float(yi[i])!r},{float(vi[i])!r}\n")
    n_e, n_c = rng.integers(20, 200, n), rng.integers(20, 200, n)
    p_c = rng.uniform(0.1, 0.5, n)
    log_or = rng.normal(0.3, 0.3, n)
    p_e = 1 / (1 + np.exp(-(np.log(p_c / (1 - p_c)) + log_or)))
    e_e, e_c = rng.binomial(n_e, p_e), rng.binomial(n_c, p_c)
    binary = folder / "binary_1000.csv"
    with open(binary, "w") as fh:
        fh.write("study,event_e,n_e,event_c,n_c\n")
        for i in range(n):
            fh.write(f"study{i + 1},{e_e[i]},{n_e[i]},{e_c[i]},{n_c[i]}\n")
    small = folder / "yivi_10.csv"
    with open(small, "w") as fh:
        fh.write("study,yi,vi\n")
        for i in range(10):
            fh.write(f"study{i + 1},{float(yi[i])!r},{float(vi[i])!r}\n")
    return {"gen": gen, "binary": binary, "small": small}


def bench_cli(path: Path, measure: str, method: str = "REML") -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "synthesis", "pool", str(path), "--measure", measure,
           "--method", method, "--json"]
    last = {}

    def run():
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}")
        last["json"] = json.loads(proc.stdout)

    t, times, _ = best_of(run, 3)
    d = last["json"]
    return {"seconds": t, "all_seconds": times, "k": d["k"], "estimate": d["estimate"],
            "tau2": d["tau2"], "converged": d["converged"]}


# --- main ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-r", action="store_true", help="do not rerun benchmarks/metafor_loop.R")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    info = machine()
    load_start = os.getloadavg()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}, numpy "
          f"{info['numpy']}, scipy {info['scipy']}, pandas {info['pandas']}, statsmodels "
          f"{info['statsmodels']}; load average {load_start[0]:.2f}", flush=True)

    yi, vi = make_data()
    df = pd.DataFrame({"analysis": np.repeat(np.arange(N_SETS), K), "yi": yi.ravel(),
                       "vi": vi.ravel()})
    synthesis.pool_batch(df.iloc[: 10 * K])  # warm-up: imports, scipy distributions

    print("timing pool_batch on 10,000 analyses (best of 7) ...", flush=True)
    batch = bench_batch(df)
    res = batch["result"]
    n_unconv = int((~res["converged"].astype(bool)).sum())
    print(f"  {fmt_s(batch['seconds'])} (runs: {', '.join(fmt_s(x) for x in batch['all_seconds'])});"
          f" {n_unconv} analyses flagged not converged", flush=True)

    print("timing pool_batch with PM and DL, and the REML / Q-profile steps alone ...", flush=True)
    brk = bench_breakdown(df, yi, vi)

    print("checking batch == single path on 20 analyses ...", flush=True)
    check = check_identical(res, yi, vi)

    print("timing statsmodels combine_effects loop (1,000, best of 5) ...", flush=True)
    sm = bench_statsmodels(yi, vi)
    print("timing the batch and the statsmodels loop in alternation (9 rounds) ...", flush=True)
    paired = bench_paired(df, yi, vi)
    print("timing synthesis.pool loop (200, best of 3) ...", flush=True)
    single = bench_single(yi, vi)

    stored_path = HERE / "metafor_loop_result.json"
    stored = json.loads(stored_path.read_text()) if stored_path.is_file() else None
    fresh = None
    if not args.no_r:
        print("rerunning metafor_loop.R (about 15-30 s) ...", flush=True)
        fresh = rerun_metafor()
        if fresh is None:
            print("  Rscript/metafor not available: using the stored result only", flush=True)

    print("timing `python -m synthesis pool` on 1,000-study CSVs (best of 3) ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        csvs = write_csvs(Path(tmp))
        cli_gen = bench_cli(csvs["gen"], "GEN")
        cli_bin = bench_cli(csvs["binary"], "OR")
        cli_small = bench_cli(csvs["small"], "GEN")

    # --- report ---------------------------------------------------------------
    tb = batch["seconds"]
    rows = [("**`pool_batch` REML τ² + HKSJ + Q-profile + PI** (the benchmark)", "10,000 (all)",
             tb, None)]
    rows.append(("`pool_batch` PM τ² (+HKSJ, Q-profile, PI), for reference", "10,000 (all)",
                 brk["batch_PM"], None))
    rows.append(("`pool_batch` DL τ² (+HKSJ, Q-profile, PI), for reference", "10,000 (all)",
                 brk["batch_DL"], None))
    rows.append((f"statsmodels `combine_effects` loop (PM \"iterated\"; no τ² CI, no PI)",
                 f"{N_STATSMODELS:,} → ×10", sm["extrapolated_10000"], sm["extrapolated_10000"] / tb))
    rows.append(("`synthesis.pool` loop (single path)", f"{N_SINGLE} → ×50",
                 single["extrapolated_10000"], single["extrapolated_10000"] / tb))
    metafor_rows = []
    if stored is not None:
        metafor_rows.append((f"metafor {stored.get('metafor_version', '?')} loop, stored JSON "
                             f"(rma REML knha + confint + predict; defaults; "
                             f"{stored.get('n_errors', '?')} of 1,000 failed)",
                             stored["extrapolated_seconds_10000"]))
        tc = stored.get("tight_control")
        if tc:
            metafor_rows.append(("metafor loop, stored JSON, tight control (tol 1e-13)",
                                 tc["extrapolated_seconds_10000"]))
    if fresh is not None:
        metafor_rows.append((f"metafor {fresh.get('metafor_version', '?')} loop, rerun now "
                             f"(defaults; {fresh.get('n_errors', '?')} of 1,000 failed)", fresh["extrapolated_seconds_10000"]))
        tc = fresh.get("tight_control")
        if tc:
            metafor_rows.append(("metafor loop, rerun now, tight control (tol 1e-13)",
                                 tc["extrapolated_seconds_10000"]))
    for label, secs in metafor_rows:
        rows.append((label, "1,000 → ×10", secs, secs / tb))

    print()
    print("### Pooling 10,000 meta-analyses (k = 10)")
    print()
    print("Speed-up of the REML batch = that row's time ÷ the `pool_batch` REML time "
          "(below 1×: that row is faster).")
    print()
    print("| what | timed on | time for 10,000 | speed-up of the REML batch |")
    print("|---|---|---|---|")
    for label, timed, secs, ratio in rows:
        print(f"| {label} | {timed} | {fmt_s(secs)} | "
              f"{'—' if ratio is None else f'{ratio:.1f}×'} |")
    print()
    print(f"Paired rounds (batch, then the statsmodels loop ×10, in alternation): "
          + "; ".join(f"{fmt_s(b)} vs {fmt_s(s)} = {r:.0f}×" for b, s, r in
                      zip(paired["batch_seconds"], paired["statsmodels_seconds_10000"],
                          paired["ratios"])) + ".")
    print(f"Batch runs: {', '.join(fmt_s(x) for x in batch['all_seconds'])}; "
          f"{n_unconv} of {N_SETS:,} analyses flagged `converged = False`.")
    print(f"Memory: tracemalloc peak during `pool_batch` {batch['tracemalloc_peak_mb']:.1f} MiB; "
          f"process peak RSS {batch['rss_peak_mb']:.0f} MiB after the batch runs "
          f"({batch['rss_before_mb']:.0f} MiB before them).")
    if "reml_tau2_only" in brk:
        ri = brk["reml_iterations"]
        print(f"Where the batch time goes: REML tau² alone {fmt_s(brk['reml_tau2_only'])} "
              f"(Newton iterations per analysis: median {ri['median']:.0f}, 99th percentile "
              f"{ri['p99']:.0f}, most {ri['max_converged']}; {ri['not_converged']} stop at "
              f"maxiter); "
              f"Q-profile tau² CI alone {fmt_s(brk['qprofile_only'])}.")
    elif "error" in brk:
        print(f"(breakdown skipped: {brk['error']})")
    ok = not check["exact_failures"]
    print(f"Batch vs single path on {N_CHECK} random analyses: estimate and tau2 "
          f"{'identical (bit for bit)' if ok else 'DIFFER'}"
          + (f"; other keys identical" if not check["other_differences"]
             else f"; other keys differ in {len(check['other_differences'])} cases"))
    print()
    print("### `carsynth pool` command line (subprocess, best of 3)")
    print()
    print("| input | measure / method | k | wall time |")
    print("|---|---|---|---|")
    print(f"| 1,000-study CSV `study,yi,vi` | GEN / REML | {cli_gen['k']} | {fmt_s(cli_gen['seconds'])} |")
    print(f"| 1,000-study CSV `study,event_e,n_e,event_c,n_c` | OR / REML | {cli_bin['k']} | "
          f"{fmt_s(cli_bin['seconds'])} |")
    print(f"| 10-study CSV `study,yi,vi` (start-up cost) | GEN / REML | {cli_small['k']} | "
          f"{fmt_s(cli_small['seconds'])} |")
    print()
    sm_ratio = sm["extrapolated_10000"] / tb
    metafor_default = [s for lab, s in metafor_rows if "tight" not in lab]
    print("### Targets")
    print()
    print(f"| target | measured | met |")
    print("|---|---|---|")
    med = paired["median_ratio"]
    print(f"| batch ≥ 50× faster than the statsmodels loop (median of {len(paired['ratios'])} "
          f"paired rounds) | {med:.1f}× (rounds {min(paired['ratios']):.0f}–"
          f"{max(paired['ratios']):.0f}×; separate best-of runs above: {sm_ratio:.1f}×) | "
          f"{'yes' if med >= 50 else 'NO'} |")
    pm_ratio = sm["extrapolated_10000"] / brk["batch_PM"]
    print(f"| (not a target) PM batch vs the statsmodels PM loop, same estimator | {pm_ratio:.1f}× | — |")
    if metafor_default:
        worst = min(metafor_default) / tb
        print(f"| batch faster than the metafor loop | {worst:.1f}× (slowest comparison) | "
              f"{'yes' if worst > 1 else 'NO'} |")
    else:
        print("| batch faster than the metafor loop | no metafor result | — |")
    print()
    print(f"(total benchmark time {time.perf_counter() - t_start:.0f} s; load average "
          f"{load_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, "
          f"on {info['nproc']} CPUs)")

    if args.json:
        payload = {
            "machine": info,
            "batch": {k: v for k, v in batch.items() if k != "result"},
            "batch_not_converged": n_unconv, "breakdown": brk,
            "statsmodels": sm, "paired": paired, "single": single,
            "metafor_stored": stored, "metafor_rerun": fresh,
            "cli": {"gen_1000": cli_gen, "binary_or_1000": cli_bin, "gen_10": cli_small},
            "identity_check": {"indices": check["indices"],
                               "exact_failures": [list(map(str, x)) for x in check["exact_failures"]],
                               "other_differences": [list(map(str, x))
                                                     for x in check["other_differences"]]},
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float) + "\n")

    if check["exact_failures"]:
        for i, key, a, b in check["exact_failures"]:
            print(f"MISMATCH analysis {i} {key}: single {a!r} != batch {b!r}", file=sys.stderr)
        raise AssertionError("pool_batch differs from pool on estimate or tau2 (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
