"""`carsynth pool FILE.csv`: pool one meta-analysis from a CSV file.

The CSV is read with Python's csv module, not pandas, so that the header and
every row can be checked as written: a duplicated or unknown column, or a row
with more or fewer fields than the header, is one error naming the file and
line. Missing values are an error naming the row unless ``--drop-missing``
leaves those rows out (as metafor's ``na.action = na.omit``), with a warning.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from ..errors import EXIT_USAGE, CarsynthError
from ..fmt import fixed
from ..fmt import p_equals as _p
from ..constants import ALL_METHODS, DEFAULTS, PI_TYPES

EXIT_DATA = 2
_CI_CHOICES = {"hksj": (True, False), "adhoc": (True, True), "wald": (False, False)}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pool",
        help="pool one meta-analysis from a CSV file",
        description=(
            "Pool a CSV whose columns are one of: study,event_e,n_e,event_c,n_c (measure OR, RR, "
            "RD); study,events,n (PR, PLO, PAS, PFT); study,yi,vi or study,yi,sei (GEN); "
            "study,ratio,ci_lower,ci_upper (RATIO: a reported ratio with its 95% CI). "
            "Defaults are the review plan's (docs/methods.md, 'Defaults')."
        ),
    )
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--measure", required=True, type=str.upper,
                   choices=["OR", "RR", "RD", "PR", "PLO", "PAS", "PFT", "GEN", "RATIO"])
    p.add_argument("--method", default=DEFAULTS.method, type=str.upper, choices=list(ALL_METHODS),
                   help=f"τ² estimator or common-effect method (default {DEFAULTS.method})")
    default_ci = {v: k for k, v in _CI_CHOICES.items()}[(DEFAULTS.hksj, DEFAULTS.hksj_adhoc)]
    ci = p.add_mutually_exclusive_group()
    ci.add_argument("--hksj-adhoc", dest="ci", action="store_const", const="adhoc",
                    help="HKSJ t interval, never narrower than the Wald interval"
                         + (" (default)" if default_ci == "adhoc" else ""))
    ci.add_argument("--hksj", dest="ci", action="store_const", const="hksj",
                    help="plain Hartung-Knapp-Sidik-Jonkman t interval"
                         + (" (default)" if default_ci == "hksj" else ""))
    ci.add_argument("--no-hksj", dest="ci", action="store_const", const="wald",
                    help="Wald (z) interval" + (" (default)" if default_ci == "wald" else ""))
    p.set_defaults(ci=default_ci)
    p.add_argument("--pi", default=DEFAULTS.pi, choices=list(PI_TYPES),
                   help=f"prediction interval: t with k-2 df (hts), z, or t with k-1 df "
                        f"(default {DEFAULTS.pi})")
    p.add_argument("--level", default=DEFAULTS.level, type=float,
                   help=f"confidence level (default {DEFAULTS.level})")
    p.add_argument("--drop-missing", action="store_true",
                   help="leave out rows with a missing value, with a warning (as metafor's "
                        "na.omit); by default a missing value is an error")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


class _DataError(CarsynthError):
    """A CSV that cannot be pooled as written: one line naming file:line (exit 2)."""

    exit_code = EXIT_USAGE


def read_table(path: Path):
    """The CSV as a DataFrame of strings, and the file line of each data row (1-based rows).

    Raises _DataError with ``line: message`` for anything malformed.
    """
    import pandas as pd

    if not path.is_file():
        raise _DataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise _DataError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise _DataError(f"{path}: cannot be read ({exc.strerror})") from None
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise _DataError(f"{path}:{line}: a NUL byte; this is not a text CSV file")
    reader = csv.reader(text.splitlines(keepends=True), skipinitialspace=True)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        start = 1
        for fields in reader:
            here, start = start, reader.line_num + 1
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line
            if header is None:
                header, header_line = [f.strip() for f in fields], here
                _check_header(path, here, header)
                continue
            if len(fields) != len(header):
                hint = " (quote a value that contains a comma)" if len(fields) > len(header) else ""
                raise _DataError(f"{path}:{here}: {len(fields)} fields where the header has "
                                 f"{len(header)}{hint}")
            rows.append([f.strip() for f in fields])
            lines.append(here)
    except csv.Error as exc:
        raise _DataError(f"{path}:{reader.line_num}: not a valid CSV line ({exc})") from None
    if header is None:
        raise _DataError(f"{path}: the file is empty")
    if not rows:
        raise _DataError(f"{path}: no data rows under the header (line {header_line})")
    return pd.DataFrame(rows, columns=header, dtype=str), lines


def _check_header(path: Path, line: int, header: list[str]) -> None:
    from ..api import InputError, LAYOUTS, detect_layout

    for i, name in enumerate(header):
        if not name:
            raise _DataError(f"{path}:{line}: column {i + 1} has no name")
        if name in header[:i]:
            raise _DataError(f"{path}:{line}: column '{name}' appears twice in the header "
                             f"(columns {header.index(name) + 1} and {i + 1})")
    try:
        layout = detect_layout(header)
    except InputError as exc:
        raise _DataError(f"{path}:{line}: {exc.message}") from None
    for name in header:
        if name not in LAYOUTS[layout]:
            raise _DataError(f"{path}:{line}: column '{name}' is not part of the "
                             f"{','.join(LAYOUTS[layout])} layout; remove or rename it")


def run(args: argparse.Namespace) -> int:
    from ..api import InputError, pool

    path = Path(args.file)
    if not 0 < args.level < 1:
        print(f"carsynth pool: --level must be between 0 and 1 (e.g. 0.95); got {args.level}",
              file=sys.stderr)
        return EXIT_DATA
    try:
        df, lines = read_table(path)
    except _DataError as exc:
        print(f"carsynth pool: {exc}", file=sys.stderr)
        return EXIT_DATA
    hksj, adhoc = _CI_CHOICES[args.ci]
    try:
        res = pool(df, measure=args.measure, method=args.method, hksj=hksj, hksj_adhoc=adhoc,
                   pi=args.pi, level=args.level, drop_missing=args.drop_missing)
    except InputError as exc:
        where = f"{path}:{lines[exc.row - 1]}" if exc.row is not None else f"{path}"
        hint = ("; fill it in, or use --drop-missing to leave such rows out"
                if exc.missing else "")
        print(f"carsynth pool: {where}: {exc}{hint}", file=sys.stderr)
        return EXIT_DATA
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(format_table(res))
    return 0


def _n(x, digits: int = 4) -> str:
    return fixed(x, digits)


def format_table(res) -> str:
    """The printed summary. One study (k = 1) is shown as itself: no test, no heterogeneity."""
    d = res.to_dict()
    bt = d["backtransformed"]
    lvl = int(round(d["level"] * 100))
    single = d["k"] == 1
    if single:
        head = (f"{d['measure']}, k = 1: a single study, nothing pooled "
                f"(CI: the study's own Wald z)")
        test = ""
    else:
        ci_name = {"wald": "Wald z", "hksj": f"HKSJ t({_n(d['df'], 0)})",
                   "hksj-adhoc": f"HKSJ ad hoc t({_n(d['df'], 0)})"}[d["ci_type"]]
        head = f"{d['method']} meta-analysis of {d['measure']}, k = {d['k']}  (CI: {ci_name})"
        test = f", p {_p(d['pval'])}"
    lines = [
        head,
        "",
        f"  {'':<22}{'estimate':>11}{lvl:>8}% CI",
        f"  {'analysis scale':<22}{_n(d['estimate']):>11}   [{_n(d['ci_lb'])}, {_n(d['ci_ub'])}]"
        f"   SE {_n(d['se'])}{test}",
        f"  {'back-transformed':<22}{_n(bt['estimate']):>11}   [{_n(bt['ci_lb'])}, {_n(bt['ci_ub'])}]"
        f"   {bt['scale']}",
    ]
    if not single:
        if d["pi_lb"] is not None:
            lines.append(f"  {'prediction interval':<22}{'':>11}   [{_n(d['pi_lb'])}, {_n(d['pi_ub'])}]"
                         f"   back-transformed [{_n(bt['pi_lb'])}, {_n(bt['pi_ub'])}]")
        elif d["pi_note"]:
            lines.append(f"  {d['pi_note']}")
        if d["method"] == "GLMM":  # no Q-based I², no τ² CI (as metafor's rma.glmm)
            lines += ["", f"  heterogeneity: likelihood-ratio Q = {_n(d['q'], 2)}, df = "
                      f"{_n(d['q_df'], 0)}, p {_p(d['q_pval'])}; τ² = {_n(d['tau2'])} (ML); "
                      f"I²(τ²) = {_n(d['i2_tau2'], 1)}%; H² = {_n(d['h2'], 2)}"]
        else:
            lines += [
                "",
                f"  heterogeneity: Q = {_n(d['q'], 2)}, df = {_n(d['q_df'], 0)}, p {_p(d['q_pval'])}; "
                f"I² = {_n(d['i2'], 1)}%",
            ]
        if d["tau2"] is not None and d["method"] not in ("FE", "MH", "PETO", "GLMM"):
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
