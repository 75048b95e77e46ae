"""`carsynth pool FILE.csv`: pool one meta-analysis from a CSV file."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ..constants import ALL_METHODS, PI_TYPES

EXIT_DATA = 2


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pool",
        help="pool one meta-analysis from a CSV file",
        description=(
            "Pool a CSV whose columns are one of: study,event_e,n_e,event_c,n_c (measure OR, RR, "
            "RD); study,events,n (PR, PLO, PAS, PFT); study,yi,vi or study,yi,sei (GEN); "
            "study,ratio,ci_lower,ci_upper (RATIO: a reported ratio with its 95%% CI)."
        ),
    )
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--measure", required=True, type=str.upper,
                   choices=["OR", "RR", "RD", "PR", "PLO", "PAS", "PFT", "GEN", "RATIO"])
    p.add_argument("--method", default="REML", type=str.upper, choices=list(ALL_METHODS))
    ci = p.add_mutually_exclusive_group()
    ci.add_argument("--hksj", dest="ci", action="store_const", const="hksj",
                    help="Hartung-Knapp-Sidik-Jonkman CI (default for random effects)")
    ci.add_argument("--hksj-adhoc", dest="ci", action="store_const", const="adhoc",
                    help="HKSJ, never narrower than the Wald CI")
    ci.add_argument("--no-hksj", dest="ci", action="store_const", const="wald",
                    help="Wald (z) CI")
    p.add_argument("--pi", default="hts", choices=list(PI_TYPES),
                   help="prediction interval: t with k-2 df (hts, default), z, or t with k-1 df")
    p.add_argument("--level", default=0.95, type=float, help="confidence level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


class _DataError(Exception):
    pass


def _read_csv(path: Path):
    import pandas as pd

    if not path.is_file():
        raise _DataError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except UnicodeDecodeError:
        raise _DataError(f"{path}: not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise _DataError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as exc:
        raise _DataError(f"{path}: not a valid CSV file ({str(exc).strip()})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise _DataError(f"{path}: no data rows under the header")
    return df


def run(args: argparse.Namespace) -> int:
    from ..api import InputError, pool

    path = Path(args.file)
    try:
        df = _read_csv(path)
    except _DataError as exc:
        print(f"carsynth pool: {exc}", file=sys.stderr)
        return EXIT_DATA
    if not 0 < args.level < 1:
        print(f"carsynth pool: --level must be between 0 and 1 (e.g. 0.95); got {args.level}",
              file=sys.stderr)
        return EXIT_DATA
    ci = args.ci or "hksj"
    try:
        res = pool(df, measure=args.measure, method=args.method, hksj=ci in ("hksj", "adhoc"),
                   hksj_adhoc=ci == "adhoc", pi=args.pi, level=args.level)
    except InputError as exc:
        where = f"{path}"
        if exc.row is not None:
            where += f": row {exc.row} (line {exc.row + 1})"
        if exc.column:
            where += f", column '{exc.column}'"
        print(f"carsynth pool: {where}: {exc.message}", file=sys.stderr)
        return EXIT_DATA
    except ValueError as exc:
        print(f"carsynth pool: {path}: {exc}", file=sys.stderr)
        return EXIT_DATA
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(format_table(res))
    return 0


def _n(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}f}"


def format_table(res) -> str:
    d = res.to_dict()
    bt = d["backtransformed"]
    lvl = int(round(d["level"] * 100))
    ci_name = {"wald": "Wald z", "hksj": f"HKSJ t({_n(d['df'], 0)})",
               "hksj-adhoc": f"HKSJ ad hoc t({_n(d['df'], 0)})"}[d["ci_type"]]
    lines = [
        f"{d['method']} meta-analysis of {d['measure']}, k = {d['k']}  (CI: {ci_name})",
        "",
        f"  {'':<22}{'estimate':>11}{lvl:>8}% CI{'':>12}",
        f"  {'analysis scale':<22}{_n(d['estimate']):>11}   [{_n(d['ci_lb'])}, {_n(d['ci_ub'])}]"
        f"   SE {_n(d['se'])}, p {_p(d['pval'])}",
        f"  {'back-transformed':<22}{_n(bt['estimate']):>11}   [{_n(bt['ci_lb'])}, {_n(bt['ci_ub'])}]"
        f"   {bt['scale']}",
    ]
    if d["pi_lb"] is not None:
        lines.append(f"  {'prediction interval':<22}{'':>11}   [{_n(d['pi_lb'])}, {_n(d['pi_ub'])}]"
                     f"   back-transformed [{_n(bt['pi_lb'])}, {_n(bt['pi_ub'])}]")
    elif d["pi_note"]:
        lines.append(f"  {d['pi_note']}")
    lines += [
        "",
        f"  heterogeneity: Q = {_n(d['q'], 2)}, df = {_n(d['q_df'], 0)}, p {_p(d['q_pval'])}; "
        f"I² = {_n(d['i2'], 1)}%",
    ]
    if d["tau2"] is not None and d["method"] not in ("FE", "MH", "PETO"):
        lines.append(
            f"  τ² = {_n(d['tau2'])} [{_n(d['tau2_ci_lb'])}, {_n(d['tau2_ci_ub'])}] (Q-profile); "
            f"I²(τ²) = {_n(d['i2_tau2'], 1)}% [{_n(d['i2_ci_lb'], 1)}, {_n(d['i2_ci_ub'], 1)}]; "
            f"H² = {_n(d['h2'], 2)}")
    lines += ["", f"  {'study':<24}{'yi':>10}{'vi':>11}{'weight %':>10}"]
    for s in d["studies"]:
        lines.append(f"  {s['study'][:24]:<24}{_n(s['yi']):>10}{_n(s['vi']):>11}"
                     f"{_n(s['weight'], 1):>10}")
    for e in d["excluded"]:
        lines.append(f"  excluded: {e['study']}: {e['reason']}")
    for w in d["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def _p(p) -> str:
    if p is None:
        return "—"
    return "< 0.0001" if p < 1e-4 else f"= {p:.4f}"
