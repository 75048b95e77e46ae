"""Benchmark: `carsynth build` on the shipped seed review and on a synthetic 200-study review.

Run from the repository root:

    python benchmarks/bench_build.py                 # about 2 minutes on 2 cores
    python benchmarks/bench_build.py --keep DIR      # keep the generated projects in DIR

What is timed (wall clock of `python -m synthesis build ... --quiet` as a subprocess):

1. The seed review: review.yaml and studies/ copied into a temporary project
   (with `sources:` pointing at ../shared/seeds by absolute path when that
   folder exists, so the quotes are verified as in a real build):
   * cold: a fresh output folder each time, best of 3;
   * no-change rebuild: the same output folder again, best of 5.
2. A synthetic review of 200 study files x 30 analyses, generated here (valid
   per the schema; no source documents, so quotes are not verified, but every
   number occurs in its record's quote). Studies are checked first with
   `python -m synthesis validate` and must give 0 errors. Then:
   * cold build (fresh output folder);
   * no-change rebuild, best of 3;
   * rebuild after one number in one study file changed (a proportion record's
     events and its quote), best of 3 (the number alternates between two values).

This is a script, not a test: nothing fails on timing, only on a broken build.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEEDS = REPO.parent / "shared" / "seeds"

N_STUDIES = 200


# --- running carsynth ------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("CARSYNTH_SOURCES", None)  # the plan says where the sources are
    env.pop("CARSYNTH_DEBUG", None)
    return env


LAST_CPU = [0.0]  # CPU seconds (user + system, all processes) of the last carsynth run


def carsynth(*args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    import resource

    cmd = [sys.executable, "-m", "synthesis", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # includes the render workers
    LAST_CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return dt, proc


def build(plan: Path, out: Path, quiet: bool = True) -> float:
    args = ["build", "--plan", str(plan), "--output", str(out)]
    if quiet:
        args.append("--quiet")
    return carsynth(*args)[0]


def build_summary(plan: Path, out: Path) -> tuple[float, str]:
    """An (untimed in the tables) non-quiet build, to see how many analyses were rebuilt."""
    dt, proc = carsynth("build", "--plan", str(plan), "--output", str(out))
    return dt, proc.stdout.strip()


def built_count(summary: str) -> int:
    m = re.search(r"(\d+) analyses built", summary)
    return int(m.group(1)) if m else -1


def snapshot(out: Path) -> dict[str, float]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def fmt_s(x: float) -> str:
    return f"{x:.2f} s"


# --- the seed review ---------------------------------------------------------------


def seed_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    text = (REPO / "review.yaml").read_text()
    if SEEDS.is_dir():
        new, n = re.subn(r"(?m)^sources:.*$", f"sources: {SEEDS.resolve()}", text)
        if n == 0:
            new = text.replace("review_version: 1\n", f"review_version: 1\nsources: {SEEDS.resolve()}\n", 1)
    else:
        new = re.sub(r"(?m)^sources:.*\n", "", text)
    (root / "review.yaml").write_text(new)
    shutil.copytree(REPO / "studies", root / "studies")
    return root / "review.yaml"


def bench_seed(tmp: Path) -> dict:
    plan = seed_project(tmp / "seed")
    cold = []
    for i in range(3):
        cold.append(build(plan, tmp / "seed" / f"out{i}"))
    out = tmp / "seed" / "out0"
    before = snapshot(out)
    again = [build(plan, out) for _ in range(5)]
    rewritten = [f for f, m in snapshot(out).items() if before.get(f) != m]
    _, summary = build_summary(plan, out)
    n_analyses = sum(1 for p in out.iterdir() if p.is_dir())
    return {"cold": cold, "nochange": again, "analyses": n_analyses,
            "nochange_built": built_count(summary), "nochange_files_rewritten": rewritten,
            "sources_verified": SEEDS.is_dir()}


# --- the synthetic review --------------------------------------------------------------

EXPOSURE_LABEL = {"gc": "GC", "tcz": "TCZ", "rux": "RUX"}
PROPORTIONS = [  # (record id, outcome, phrase, typical rate)
    ("crs_any", "crs_any", "CRS of any grade", 0.75),
    ("crs_grade3plus", "crs_grade3plus", "grade 3 or higher CRS", 0.20),
    ("icans_any", "icans_any", "ICANS of any grade", 0.35),
    ("icans_grade3plus", "icans_grade3plus", "grade 3 or higher ICANS", 0.10),
    ("cr_rate", "cr", "CR", 0.80),
    ("serious_infection_rate", "serious_infection", "serious infection", 0.25),
    ("mrd_negative_cr_rate", "mrd_negative_cr", "MRD-negative CR", 0.65),
]
BINARIES = [  # (record id, outcome, exposure, phrase, base rate, log OR)
    ("cr_by_gc", "cr", "gc", "CR", 0.80, -0.1),
    ("cr_by_tcz", "cr", "tcz", "CR", 0.80, 0.1),
    ("cr_by_rux", "cr", "rux", "CR", 0.80, 0.0),
    ("mrd_negative_cr_by_gc", "mrd_negative_cr", "gc", "MRD-negative CR", 0.65, -0.2),
    ("mrd_negative_cr_by_tcz", "mrd_negative_cr", "tcz", "MRD-negative CR", 0.65, 0.0),
    ("serious_infection_by_gc", "serious_infection", "gc", "serious infection", 0.2, 0.4),
    ("serious_infection_by_tcz", "serious_infection", "tcz", "serious infection", 0.2, 0.2),
]
RATIO_EXPOSURES = [  # (exposure, exposed label, reference label, log HR)
    ("gc", "GC", "no GC", 0.05),
    ("tcz", "TCZ", "no TCZ", -0.05),
    ("rux", "RUX", "no RUX", 0.0),
    ("crs", "CRS", "no CRS", -0.1),
    ("icans", "ICANS", "no ICANS", 0.15),
    ("crs_or_icans_grade3plus", "grade 3 or higher CRS or ICANS", "grade 0-2", 0.35),
    ("crs_grade3plus", "grade 3 or higher CRS", "grade 0-2 CRS", 0.3),
]


def _q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return json.dumps(text, ensure_ascii=False)


def _hr(rng, log_hr: float) -> tuple[str, str, str]:
    """A hazard ratio with a 95% CI, printed to 2 decimals, CI strictly around the estimate."""
    while True:
        b = rng.normal(log_hr, 0.25)
        se = rng.uniform(0.12, 0.45)
        est, lo, hi = math.exp(b), math.exp(b - 1.959964 * se), math.exp(b + 1.959964 * se)
        e_s, l_s, h_s = f"{est:.2f}", f"{lo:.2f}", f"{hi:.2f}"
        if float(l_s) > 0 and float(l_s) < float(e_s) < float(h_s):
            return e_s, l_s, h_s


def study_yaml(i: int, rng, p_include: float = 0.2) -> str:
    sid = f"syn{i:03d}"
    year = 2012 + i % 15
    n = int(rng.integers(60, 301))
    groups = {}
    for exp in ("gc", "tcz", "rux"):
        share = {"gc": rng.uniform(0.3, 0.7), "tcz": rng.uniform(0.3, 0.7),
                 "rux": rng.uniform(0.1, 0.4)}[exp]
        n1 = max(5, min(n - 5, int(round(n * share))))
        groups[exp] = (n1, n - n1)
    L = [
        "# synthetic study generated by benchmarks/bench_build.py (not a real paper)",
        "schema_version: 1",
        f"id: {sid}",
        "citation:",
        f"  authors: [Bench{i:03d} A, Other B]",
        f"  title: Synthetic CAR-T cohort {i} for the carsynth build benchmark",
        "  journal: Benchmark Journal",
        f"  year: {year}",
        f"  doi: 10.9999/carsynth.bench.{i:03d}",
        "design:",
        "  type: retrospective",
        "  centres: single",
        "  quotes: [{text: \"a retrospective cohort\"}]",
        "population:",
        "  age_group: mixed",
        "  disease_status: relapsed/refractory",
        "  car_targets: [CD19]",
        "  car_origin: autologous",
        f"  n_enrolled: {n}",
        f"  quotes: [{{text: \"{n} patients were enrolled\"}}]",
        "sources:",
        f"  - file: {sid}.pdf",
        f"    sha256: {__import__('hashlib').sha256(sid.encode()).hexdigest()}",
        "    kind: pdf",
        "extraction:",
        "  extractor: {name: carsynth benchmark, date: 2026-11-21}",
        "groups:",
    ]
    for exp, (n1, n2) in groups.items():
        lab = EXPOSURE_LABEL[exp]
        L.append(f"  - {{id: {exp}, label: {lab}, exposure: {exp}, n: {n1}, "
                 f"quote: {{text: \"{lab} group (n = {n1})\"}}}}")
        L.append(f"  - {{id: no_{exp}, label: no {lab}, exposure: {exp}, exposed: false, n: {n2}, "
                 f"quote: {{text: \"no-{lab} group (n = {n2})\"}}}}")
    L.append("records:")
    for rid, outcome, exp, phrase, base, log_or in BINARIES:
        if rng.random() > p_include:
            continue
        n1, n2 = groups[exp]
        pc = min(0.95, max(0.05, rng.normal(base, 0.08)))
        pe = 1 / (1 + math.exp(-(math.log(pc / (1 - pc)) + rng.normal(log_or, 0.3))))
        a, c = int(rng.binomial(n1, pe)), int(rng.binomial(n2, pc))
        tp = "day 28" if rng.random() < 0.5 else "day 30"
        lab = EXPOSURE_LABEL[exp]
        L += [
            f"  - id: {rid}",
            "    kind: binary",
            f"    outcome: {outcome}",
            f"    timepoint: {tp}",
            f"    exposure: {exp}",
            f"    exposed: {{group: {exp}, events: {a}, total: {n1}}}",
            f"    reference: {{group: no_{exp}, events: {c}, total: {n2}}}",
            f"    quotes: [{{text: {_q(f'{phrase} at {tp} in {a}/{n1} with {lab} and {c}/{n2} without')}}}]",
        ]
    for rid, outcome, phrase, rate in PROPORTIONS:
        if rng.random() > p_include:
            continue
        p = min(0.97, max(0.03, rng.normal(rate, 0.08)))
        e = int(rng.binomial(n, p))
        L += [f"  - id: {rid}", "    kind: proportion", f"    outcome: {outcome}"]
        if outcome in ("cr", "mrd_negative_cr"):
            L.append(f"    timepoint: {'day 28' if rng.random() < 0.5 else 'day 30'}")
        L += [f"    events: {e}", f"    total: {n}",
              f"    quotes: [{{text: {_q(f'{phrase} occurred in {e} of {n} patients')}}}]"]
    for exp, exposed, reference, log_hr in RATIO_EXPOSURES:
        for family in (True, False):
            if rng.random() > p_include:
                continue
            outcome = str(rng.choice(["pfs", "efs", "lfs"])) if family else "os"
            # sometimes both an adjusted and an unadjusted estimate (the plan picks one)
            variants = [True, False] if rng.random() < 0.25 else [bool(rng.random() < 0.5)]
            for adjusted in variants:
                est, lo, hi = _hr(rng, log_hr)
                rid = f"{outcome}_hr_{exp}_{'adj' if adjusted else 'unadj'}"
                L += [
                    f"  - id: {rid}",
                    "    kind: ratio",
                    f"    outcome: {outcome}",
                    "    measure: HR",
                    f"    exposure: {exp}",
                    f"    exposed: {_q(exposed)}",
                    f"    reference: {_q(reference)}",
                    f"    estimate: {est}",
                    f"    ci_lower: {lo}",
                    f"    ci_upper: {hi}",
                    f"    adjusted: {'true' if adjusted else 'false'}",
                    f"    analysis: {'multivariable' if adjusted else 'univariable'}",
                    f"    quotes: [{{text: {_q(f'{outcome.upper()} HR {est} (95% CI {lo}-{hi})')}}}]",
                ]
    if rng.random() < 0.3:  # a comparison given only as a p-value (listed as not pooled)
        p = f"0.{int(rng.integers(100, 1000))}"
        L += ["  - id: os_by_rux_logrank", "    kind: pvalue", "    outcome: os",
              "    exposure: rux", "    comparison: RUX vs no RUX", f"    p: {p}",
              "    test: log-rank", f"    quotes: [{{text: \"P = {p} for OS (log-rank)\"}}]"]
    return "\n".join(L) + "\n"


def _analysis(aid, section, title, select, measure, model=None, subgroup=False, favours=None):
    L = [f"  - id: {aid}", f"    section: {section}", f"    title: {_q(title)}", "    select:"]
    for key, val in select.items():
        if isinstance(val, list):
            val = "[" + ", ".join(val) + "]"
        L.append(f"      {key}: {val}")
    L.append(f"    measure: {measure}")
    if model:
        L.append("    model: {" + ", ".join(f"{k}: {v}" for k, v in model.items()) + "}")
    if subgroup:
        L.append("    subgroup_by: outcome")
    if favours:
        L.append(f"    favours: [{', '.join(favours)}]")
    return L


def plan_yaml() -> str:
    days = ["day 28", "day 30"]
    L = ["# synthetic review plan generated by benchmarks/bench_build.py",
         "review_version: 1", "title: Synthetic benchmark review (200 studies, 30 analyses)",
         "studies: studies", "output: output", "analyses:"]
    B, P, R = "Binary outcomes", "Proportions", "Hazard ratios"
    L += _analysis("gc_cr", B, "GC vs no GC — CR (OR)", {"kind": "binary", "outcome": ["cr"],
                   "exposure": ["gc"], "timepoint": days}, "OR", {"method": "REML", "show_common": "true"})
    L += _analysis("gc_cr_rr", B, "GC vs no GC — CR (RR)", {"kind": "binary", "outcome": ["cr"],
                   "exposure": ["gc"], "timepoint": days}, "RR")
    L += _analysis("gc_cr_rd", B, "GC vs no GC — CR (RD)", {"kind": "binary", "outcome": ["cr"],
                   "exposure": ["gc"], "timepoint": days}, "RD")
    L += _analysis("gc_cr_mh", B, "GC vs no GC — CR (Mantel–Haenszel OR)", {"kind": "binary",
                   "outcome": ["cr"], "exposure": ["gc"], "timepoint": days}, "OR", {"method": "MH"})
    L += _analysis("tcz_cr", B, "TCZ vs no TCZ — CR (OR)", {"kind": "binary", "outcome": ["cr"],
                   "exposure": ["tcz"], "timepoint": days}, "OR")
    L += _analysis("rux_cr", B, "RUX vs no RUX — CR (OR)", {"kind": "binary", "outcome": ["cr"],
                   "exposure": ["rux"], "timepoint": days}, "OR")
    for exp in ("gc", "tcz"):
        L += _analysis(f"{exp}_mrd_negative_cr", B, f"{exp.upper()} — MRD-negative CR (OR)",
                       {"kind": "binary", "outcome": ["mrd_negative_cr"], "exposure": [exp]}, "OR")
        L += _analysis(f"{exp}_serious_infection", B, f"{exp.upper()} — serious infection (OR)",
                       {"kind": "binary", "outcome": ["serious_infection"], "exposure": [exp]}, "OR")
    for aid, outcome, measure in (("crs_any_incidence", "crs_any", "PLO"),
                                  ("crs_any_incidence_pft", "crs_any", "PFT"),
                                  ("crs_grade3plus_incidence", "crs_grade3plus", "PLO"),
                                  ("icans_any_incidence", "icans_any", "PLO"),
                                  ("icans_grade3plus_incidence", "icans_grade3plus", "PLO"),
                                  ("serious_infection_rate", "serious_infection", "PLO"),
                                  ("mrd_negative_cr_rate", "mrd_negative_cr", "PAS")):
        L += _analysis(aid, P, f"Incidence: {outcome} ({measure})",
                       {"kind": "proportion", "outcome": [outcome]}, measure)
    L += _analysis("cr_rate", P, "CR rate at day 28–30", {"kind": "proportion", "outcome": ["cr"],
                   "timepoint": days}, "PLO")
    for exp in ("gc", "tcz", "rux", "crs", "icans"):
        L += _analysis(f"{exp}_pfs_family_hr", R, f"{exp.upper()} — PFS/EFS/LFS (HR)",
                       {"kind": "ratio", "outcome": ["pfs_family"], "exposure": [exp],
                        "measure": ["HR"], "adjusted": "prefer"}, "HR", subgroup=True,
                       favours=[f"Favours {exp.upper()}", f"Favours no {exp.upper()}"])
        L += _analysis(f"{exp}_os_hr", R, f"{exp.upper()} — OS (HR)",
                       {"kind": "ratio", "outcome": ["os"], "exposure": [exp], "measure": ["HR"],
                        "adjusted": "prefer"}, "HR")
    sev = ["crs_or_icans_grade3plus", "crs_grade3plus"]
    L += _analysis("severe_toxicity_os_hr", R, "Grade ≥ 3 CRS or ICANS — OS (HR)",
                   {"kind": "ratio", "outcome": ["os"], "exposure": sev, "measure": ["HR"]}, "HR")
    L += _analysis("severe_toxicity_pfs_family_hr", R, "Grade ≥ 3 CRS or ICANS — PFS/EFS/LFS (HR)",
                   {"kind": "ratio", "outcome": ["pfs_family"], "exposure": sev, "measure": ["HR"]},
                   "HR", subgroup=True)
    return "\n".join(L) + "\n"


def synthetic_project(root: Path, p_include: float = 0.2, n_studies: int | None = None) -> Path:
    """200 study files and a 30-analysis plan; each study reports each record type with
    probability ``p_include`` (0.2: about 40 studies per analysis)."""
    import numpy as np

    rng = np.random.default_rng(7)
    (root / "studies").mkdir(parents=True)
    for i in range(1, (n_studies or N_STUDIES) + 1):
        (root / "studies" / f"syn{i:03d}.yaml").write_text(study_yaml(i, rng, p_include))
    (root / "review.yaml").write_text(plan_yaml())
    return root / "review.yaml"


def touch_one(study: Path, delta: int) -> str:
    """Change the events of the crs_any proportion (in the number and its quote) by delta."""
    text = study.read_text()
    m = re.search(r"(  - id: crs_any\n    kind: proportion\n    outcome: crs_any\n"
                  r"    events: )(\d+)(\n    total: \d+\n    quotes: \[\{text: \"CRS of any grade "
                  r"occurred in )(\d+)", text)
    if not m:
        raise RuntimeError(f"{study}: no crs_any record to change")
    new = int(m.group(2)) + delta
    text = text[:m.start()] + m.group(1) + str(new) + m.group(3) + str(new) + text[m.end():]
    study.write_text(text)
    return f"crs_any events {m.group(2)} -> {new}"


def bench_synthetic(tmp: Path, p_include: float) -> dict:
    from synthesis.plan import load_plan  # noqa: F401 - validates the generated plan below

    root = tmp / "synthetic"
    plan = synthetic_project(root, p_include)
    plan_obj = load_plan(plan)
    assert len(plan_obj.analyses) == 30, len(plan_obj.analyses)

    t_val, proc = carsynth("validate", str(root / "studies"), "--json", check=False)
    rep = json.loads(proc.stdout)
    if rep["errors"]:
        errs = [m for m in rep["messages"] if m["severity"] == "error"][:20]
        raise RuntimeError("generated studies do not validate:\n" + "\n".join(map(str, errs)))
    warn_kinds: dict[str, int] = {}
    for m in rep["messages"]:
        key = re.sub(r"\d+", "N", m["message"])[:120]
        warn_kinds[key] = warn_kinds.get(key, 0) + 1

    out = root / "output"
    t_cold = build(plan, out)
    rows = {}
    import csv

    with open(out / "results.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows[r["id"]] = int(r["k"])
    before = snapshot(out)
    nochange = [build(plan, out) for _ in range(3)]
    rewritten = [f for f, mt in snapshot(out).items() if before.get(f) != mt]
    _, summary = build_summary(plan, out)

    # pick a study that reports crs_any
    def changeable(p: Path) -> bool:
        m = re.search(r"  - id: crs_any\n.*\n.*\n    events: (\d+)\n    total: (\d+)", p.read_text())
        return bool(m) and int(m.group(1)) < int(m.group(2))

    target = next(p for p in sorted((root / "studies").glob("*.yaml")) if changeable(p))
    touched, changes = [], []
    for delta in (1, -1, 1):
        changes.append(touch_one(target, delta))
        touched.append(build(plan, out))
    # one more change, non-quiet, to count the rebuilt analyses (not timed in the table)
    changes.append(touch_one(target, -1))
    _, touch_summary = build_summary(plan, out)
    return {"validate_seconds": t_val, "validate_errors": rep["errors"],
            "validate_warnings": rep["warnings"], "warning_kinds": warn_kinds,
            "files": rep["files"], "cold": t_cold, "nochange": nochange,
            "nochange_built": built_count(summary), "nochange_files_rewritten": rewritten,
            "touch": touched, "touch_file": target.name, "touch_changes": changes,
            "touch_built": built_count(touch_summary), "k_per_analysis": rows}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def profile_seed() -> None:
    """cProfile of one cold seed build in this process (jobs=1), top functions by cumulative time."""
    import cProfile
    import pstats

    from synthesis.build import build as build_fn

    with tempfile.TemporaryDirectory(prefix="carsynth-prof-") as tmp:
        plan = seed_project(Path(tmp) / "seed")
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.enable()
        build_fn(plan, output=Path(tmp) / "seed" / "out", jobs=1)
        prof.disable()
        print(f"cold seed build in-process, jobs=1: {time.perf_counter() - t:.2f} s (with profiling)")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(
            r"synthesis|extract|savefig|print_(png|svg|pdf)|scipy/stats/__init__", 40)


# --- scale: 3, 30 and 300 studies ------------------------------------------------------


def bench_scale(tmp: Path, p_include: float, sizes=(30, 300)) -> list[dict]:
    """Cold builds of the seed review (3 studies) and of synthetic reviews of ``sizes``
    studies (30 analyses): wall time and CPU time (all processes), best of one."""
    runs = []
    plan = seed_project(tmp / "scale-seed")
    wall = build(plan, tmp / "scale-seed" / "out")
    runs.append({"studies": len(list((REPO / "studies").glob("*.yaml"))), "review": "seed",
                 "wall": wall, "cpu": LAST_CPU[0], "k_max": None, "k_median": None})
    for n in sizes:
        root = tmp / f"scale-{n}"
        plan = synthetic_project(root, p_include, n)
        wall = build(plan, root / "output")
        import csv

        with open(root / "output" / "results.csv", newline="") as fh:
            ks = sorted(int(r["k"]) for r in csv.DictReader(fh))
        runs.append({"studies": n, "review": f"synthetic, include p = {p_include:g}",
                     "wall": wall, "cpu": LAST_CPU[0], "k_max": ks[-1],
                     "k_median": ks[len(ks) // 2]})
        print(f"  {n} studies: cold {fmt_s(wall)} wall, {fmt_s(LAST_CPU[0])} CPU; "
              f"k per analysis median {ks[len(ks) // 2]}, max {ks[-1]}", flush=True)
    return runs


def print_scale(runs: list[dict], load: tuple[float, float]) -> None:
    print()
    print("### Cold `carsynth build` by review size (subprocess, `--quiet`, 2 render workers)")
    print()
    print("| studies | review | k per analysis (median / max) | wall time | CPU time, all processes |")
    print("|---|---|---|---|---|")
    for r in runs:
        k = "—" if r["k_max"] is None else f"{r['k_median']} / {r['k_max']}"
        print(f"| {r['studies']} | {r['review']} | {k} | {fmt_s(r['wall'])} | {fmt_s(r['cpu'])} |")
    big = runs[-1]
    print()
    print(f"Target: {big['studies']} studies in under 60 s: wall {fmt_s(big['wall'])} "
          f"({'met' if big['wall'] < 60 else 'NOT met'}); CPU {fmt_s(big['cpu'])}, i.e. "
          f"{fmt_s(big['cpu'] / 2)} on two idle cores. Load average {load[0]:.2f} at the start, "
          f"{load[1]:.2f} at the end, on {os.cpu_count()} CPUs.")


# --- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="build in DIR (kept) instead of a temp folder")
    ap.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    ap.add_argument("--include", type=float, default=0.2, metavar="P",
                    help="probability that a synthetic study reports each record type "
                         "(default 0.2: about 40 studies per analysis; 0.6 gives about 115 and "
                         "a cold build of several minutes)")
    ap.add_argument("--scale", action="store_true",
                    help="instead: cold builds of the seed review (3 studies) and synthetic "
                         "reviews of 30 and 300 studies (issue 13: 300 studies in under 60 s)")
    ap.add_argument("--profile", action="store_true",
                    help="instead: profile one cold seed build in-process (jobs=1) with cProfile")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))

    t0 = time.perf_counter()
    load_start = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, {_cpu()}; Python {sys.version.split()[0]}; "
          f"load average {load_start[0]:.2f}", flush=True)
    if args.profile:
        profile_seed()
        return 0
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="carsynth-scale-") as tmp:
            print("scale: seed review, then 30 and 300 synthetic studies (cold builds) ...",
                  flush=True)
            runs = bench_scale(Path(args.keep) if args.keep else Path(tmp), args.include)
        print_scale(runs, (load_start[0], os.getloadavg()[0]))
        if args.json:
            Path(args.json).write_text(json.dumps({"scale": runs}, indent=2) + "\n")
        return 0
    if args.keep:
        tmp_ctx = None
        tmp = Path(args.keep)
        if tmp.exists() and any(tmp.iterdir()):
            raise SystemExit(f"--keep {tmp}: folder exists and is not empty")
        tmp.mkdir(parents=True, exist_ok=True)
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="carsynth-bench-")
        tmp = Path(tmp_ctx.name)
    try:
        print(f"seed review ({'sources verified from ' + str(SEEDS) if SEEDS.is_dir() else 'no sources'}): "
              "3 cold builds, 5 no-change rebuilds ...", flush=True)
        seed = bench_seed(tmp)
        print(f"  cold {', '.join(map(fmt_s, seed['cold']))}; "
              f"no-change {', '.join(map(fmt_s, seed['nochange']))}", flush=True)
        print(f"synthetic review: generating {N_STUDIES} studies, validating, building ...",
              flush=True)
        syn = bench_synthetic(tmp, args.include)
        print(f"  validate {fmt_s(syn['validate_seconds'])}; cold {fmt_s(syn['cold'])}; "
              f"no-change {', '.join(map(fmt_s, syn['nochange']))}; "
              f"one number changed {', '.join(map(fmt_s, syn['touch']))}", flush=True)
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()

    ks = sorted(syn["k_per_analysis"].values())
    print()
    print("### `carsynth build` wall time (subprocess, `--quiet`)")
    print()
    print("| review | run | wall time | note |")
    print("|---|---|---|---|")
    print(f"| seed ({seed['analyses']} analyses, {len(list((REPO / 'studies').glob('*.yaml')))} "
          f"studies) | cold, fresh output folder (best of 3) | {fmt_s(min(seed['cold']))} | "
          f"runs {', '.join(map(fmt_s, seed['cold']))}; quotes "
          f"{'verified against the seed papers' if seed['sources_verified'] else 'not verified'} |")
    print(f"| seed | no-change rebuild (best of 5) | {fmt_s(min(seed['nochange']))} | "
          f"{seed['nochange_built']} analyses rebuilt, "
          f"{len(seed['nochange_files_rewritten'])} output files rewritten |")
    print(f"| synthetic ({N_STUDIES} studies, 30 analyses, include p = {args.include:g}) | "
          f"`validate` of the studies | "
          f"{fmt_s(syn['validate_seconds'])} | {syn['validate_errors']} errors, "
          f"{syn['validate_warnings']} warnings |")
    print(f"| synthetic | cold, fresh output folder | {fmt_s(syn['cold'])} | k per analysis "
          f"{ks[0]}–{ks[-1]} (median {ks[len(ks) // 2]}) |")
    print(f"| synthetic | no-change rebuild (best of 3) | {fmt_s(min(syn['nochange']))} | "
          f"{syn['nochange_built']} analyses rebuilt, "
          f"{len(syn['nochange_files_rewritten'])} output files rewritten |")
    print(f"| synthetic | rebuild after one number in one study changed (best of 3) | "
          f"{fmt_s(min(syn['touch']))} | {syn['touch_built']} of 30 analyses rebuilt "
          f"({syn['touch_file']}: crs_any events) |")
    print()
    print("### Targets")
    print()
    print("| target | measured | met |")
    print("|---|---|---|")
    c, n = min(seed["cold"]), min(seed["nochange"])
    print(f"| full seed build < 5 s | {fmt_s(c)} | {'yes' if c < 5 else 'NO'} |")
    print(f"| no-change rebuild < 1 s (seed) | {fmt_s(n)} | {'yes' if n < 1 else 'NO'} |")
    n2 = min(syn["nochange"])
    print(f"| (not a target) no-change rebuild < 1 s, synthetic 200 studies | {fmt_s(n2)} | "
          f"{'yes' if n2 < 1 else 'no'} |")
    print()
    print("Validation messages of the synthetic studies (by kind): "
          + "; ".join(f"{v}× {k}" for k, v in sorted(syn["warning_kinds"].items())))
    print(f"(total benchmark time {time.perf_counter() - t0:.0f} s; load average "
          f"{load_start[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, "
          f"on {os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps({"seed": seed, "synthetic": syn}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
