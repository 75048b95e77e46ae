"""`carsynth build`: every analysis, forest plot and result table from the studies and the plan.

Data flows one way: review.yaml + studies/*.yaml -> validated records ->
selected contributions (synthesis.select) -> effect sizes -> model fits ->
tables and plots. Everything is rendered in memory first and written only
when the whole build succeeded, each file atomically; unchanged files are not
rewritten. An analysis whose inputs (plan entry, selected records with their
quotes, tool version) are unchanged is skipped.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .plan import Analysis, PlanError, ReviewPlan, load_plan
from .select import AnalysisData, select

STATE_FILE = ".carsynth-state.json"
_UMASK = os.umask(0)
os.umask(_UMASK)
MEASURE_NAMES = {
    "OR": "Odds Ratio", "RR": "Risk Ratio", "RD": "Risk Difference", "HR": "Hazard Ratio",
    "RATIO": "Ratio", "PR": "Proportion", "PLO": "Proportion", "PAS": "Proportion",
    "PFT": "Proportion",
}


class BuildError(Exception):
    """The build cannot run; carries the messages to print (exit 1)."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class BuildReport:
    built: list[str]
    skipped: list[str]
    written: list[str]
    unchanged: list[str]
    output: Path


# --- atomic output ---------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temporary file and rename; False if already identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_bytes() == data:
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


# --- inputs -----------------------------------------------------------------------


def _key(analysis: Analysis, data: AnalysisData) -> str:
    payload = {
        "version": __version__,
        "analysis": analysis.model_dump(mode="json"),
        "contributions": [
            {"label": c.label, "file": c.file, "record": c.record.model_dump(mode="json"),
             "reason": c.reason, "alternatives": c.alternatives, "subgroup": c.subgroup,
             "footnotes": c.footnotes}
            for c in data.contributions
        ],
        "not_pooled": [n.__dict__ for n in data.not_pooled],
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _load_studies(plan: ReviewPlan, root: Path, sources_override: Path | None):
    from extract.validate import validate_paths

    studies_dir = (root / plan.studies).resolve()
    if not studies_dir.is_dir():
        raise BuildError([f"{root / 'review.yaml'}: studies folder '{plan.studies}' not found"])
    sources = sources_override or ((root / plan.sources).resolve() if plan.sources else None)
    report = validate_paths([studies_dir], sources)
    if not report.ok:
        lines = [str(m) for m in report.messages if m.severity == "error"]
        lines.append(f"build stopped: {report.errors} error(s) in the study files; "
                     f"previous outputs left untouched")
        raise BuildError(lines)
    pairs = []
    for fr in report.files:
        assert fr.study is not None
        try:
            rel = fr.path.resolve().relative_to(root.resolve())
        except ValueError:
            rel = fr.path
        pairs.append((fr.study, str(rel)))
    return pairs, report


# --- computing one analysis ----------------------------------------------------


def _fmt(x: float | None, d: int = 2) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def _pfmt(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def compute(analysis: Analysis, data: AnalysisData) -> dict[str, Any]:
    """Fit the analysis (overall, per subgroup, optional common effect); returns a JSON-able dict."""
    import numpy as np

    from . import effects
    from .api import pool_effects
    from .models import PoolSettings

    a = analysis
    contribs = data.contributions
    m = a.model
    kind = a.select.kind
    labels = [c.label for c in contribs]
    pool_measure = {"HR": "RATIO"}.get(a.measure, a.measure)

    def effect_sizes(cs):
        recs = [c.record for c in cs]
        if kind == "binary":
            return effects.binary([r.exposed.events for r in recs], [r.exposed.total for r in recs],
                                  [r.reference.events for r in recs],
                                  [r.reference.total for r in recs], pool_measure)
        if kind == "proportion":
            return effects.proportion([r.events for r in recs], [r.total for r in recs],
                                      pool_measure)
        es = effects.ratio_from_ci([r.estimate for r in recs],
                                   [r.ci_lower or np.nan for r in recs],
                                   [r.ci_upper or np.nan for r in recs], [r.ci_level for r in recs])
        for i, r in enumerate(recs):
            if r.ci_lower is None:  # p-only: SE from the p-value
                from_p = effects.ratio_from_p([r.estimate], [float(r.p)])
                es.yi[i], es.vi[i] = from_p.yi[0], from_p.vi[0]
                es.excluded.pop(i, None)
                if not np.isfinite(from_p.vi[0]):
                    es.excluded[i] = from_p.excluded[0]
        es.measure = "RATIO"
        return es

    def fit(cs, method=None):
        if not cs:
            return None
        settings = PoolSettings(measure=pool_measure if kind != "ratio" else "RATIO",
                                method=method or m.method, hksj=m.hksj, hksj_adhoc=m.hksj_adhoc,
                                pi=m.pi, level=m.level)
        es = effect_sizes(cs)
        if settings.method in ("MH", "PETO"):
            from .api import _pool_counts
            recs = [c.record for c in cs]
            raw = {"event_e": np.array([r.exposed.events for r in recs], float),
                   "n_e": np.array([r.exposed.total for r in recs], float),
                   "event_c": np.array([r.reference.events for r in recs], float),
                   "n_c": np.array([r.reference.total for r in recs], float)}
            return _pool_counts([c.label for c in cs], es, raw, settings)
        return pool_effects(es, [c.label for c in cs], settings)

    main = fit(contribs) if contribs else None
    common = None
    if m.show_common and contribs:
        common = fit(contribs, "MH" if kind == "binary" and a.measure in ("OR", "RR", "RD")
                     else "FE")
    subgroups = []
    if a.subgroup_by == "outcome":
        names = sorted({c.subgroup for c in contribs if c.subgroup})
        if len(names) > 1:
            for name in names:
                cs = [c for c in contribs if c.subgroup == name]
                subgroups.append({"name": name, "result": fit(cs), "members": cs})
    sub_test = None
    if len(subgroups) > 1:
        # test for subgroup differences: Cochran's Q across subgroup estimates with
        # inverse-variance weights (Borenstein et al. 2009, ch. 19; as RevMan)
        from scipy.stats import chi2

        est = np.array([s["result"].estimate for s in subgroups])
        se = np.array([s["result"].se for s in subgroups])
        w = 1 / se**2
        mu = (w * est).sum() / w.sum()
        qb = float((w * (est - mu) ** 2).sum())
        df = len(subgroups) - 1
        sub_test = {"q_between": qb, "df": df, "pval": float(chi2.sf(qb, df))}
    return {"main": main, "common": common, "subgroups": subgroups, "subgroup_test": sub_test,
            "labels": labels}


# --- presentation -------------------------------------------------------------------


def _study_row(c, res, i, kind, measure, marks):
    import numpy as np

    from .effects import backtransform
    from .plots import ForestRow, fmt_effect

    r = c.record
    yi, vi = res.yi[i], res.vi[i]
    if np.isfinite(yi):
        z = 1.959963984540054
        bt = backtransform(res.measure, [yi, yi - z * math.sqrt(vi), yi + z * math.sqrt(vi)],
                           res.ni)
        est, lo, hi = (float(x) for x in bt)
        if kind == "ratio" and r.ci_lower is not None:  # the study's own reported numbers
            est, lo, hi = r.estimate, r.ci_lower, r.ci_upper
    else:
        est = lo = hi = math.nan
    cells = []
    if kind == "binary":
        cells = [f"{r.exposed.events}/{r.exposed.total}", f"{r.reference.events}/{r.reference.total}"]
    elif kind == "proportion":
        cells = [f"{r.events}/{r.total}"]
    elif kind == "ratio":
        cells = ["adj." if r.adjusted else "unadj."]
    w = res.weights[i]
    text = fmt_effect(est, lo, hi, 2 if measure not in ("RD", "PR", "PLO", "PAS", "PFT") else 3)
    if not np.isfinite(yi):
        text = "excluded"
    return ForestRow("study", c.label, est, lo, hi, float(w) if np.isfinite(w) else None, cells,
                     text, marks)


def _pooled_rows(res, label, kind, measure, style="random", pi=True):
    from .plots import ForestRow, fmt_effect

    d = res.to_dict()
    bt = d["backtransformed"]
    digits = 3 if measure in ("RD", "PR", "PLO", "PAS", "PFT") else 2
    ncols = {"binary": 2, "proportion": 1, "ratio": 1}[kind]
    cells = [""] * ncols  # group totals are filled in by the caller
    rows = [ForestRow("pooled", label, bt["estimate"] or math.nan, bt["ci_lb"] or math.nan,
                      bt["ci_ub"] or math.nan, 100.0 if style == "random" else None, cells,
                      fmt_effect(bt["estimate"] or math.nan, bt["ci_lb"] or math.nan,
                                 bt["ci_ub"] or math.nan, digits), style=style)]
    if pi and bt["pi_lb"] is not None:
        rows.append(ForestRow("pi", "Prediction interval", math.nan, bt["pi_lb"], bt["pi_ub"],
                              None, [""] * ncols, f"[{bt['pi_lb']:.{digits}f}, {bt['pi_ub']:.{digits}f}]"))
    return rows


def _het_line(res, prefix="Heterogeneity") -> str:
    d = res.to_dict()
    if d["k"] < 2:
        return f"{prefix}: not applicable (k = {d['k']})"
    tau = (f"τ² = {_fmt(d['tau2'], 3)} [{_fmt(d['tau2_ci_lb'], 3)}, {_fmt(d['tau2_ci_ub'], 3)}]; "
           if d["method"] not in ("FE", "MH", "PETO") else "")
    return (f"{prefix}: {tau}χ² = {_fmt(d['q'])}, df = {int(d['q_df'])} "
            f"(P = {_pfmt(d['q_pval'])}); I² = {_fmt(d['i2'], 0)}%")


def _overall_line(res) -> str:
    d = res.to_dict()
    if d["df"] is not None:
        return f"Test for overall effect: t({int(d['df'])}) = {_fmt(abs(d['stat']))} (P = {_pfmt(d['pval'])})"
    return f"Test for overall effect: Z = {_fmt(abs(d['stat']))} (P = {_pfmt(d['pval'])})"


def _model_text(a: Analysis) -> str:
    m = a.model
    if m.method in ("MH", "PETO", "FE"):
        return {"MH": "M-H, Fixed", "PETO": "Peto, Fixed", "FE": "IV, Fixed"}[m.method]
    return "IV, Random"


def forest_spec(a: Analysis, data: AnalysisData, fitted: dict[str, Any]):
    from .plots import ForestRow, ForestSpec

    kind = a.select.kind
    main = fitted["main"]
    contribs = data.contributions
    # footnotes: adjustment status, exclusions, choices between records
    footnotes: list[str] = []
    note_index: dict[str, int] = {}

    def mark(text: str) -> int:
        if text not in note_index:
            note_index[text] = len(note_index) + 1
            footnotes.append(f"{len(note_index)} {text}")
        return note_index[text]

    rows: list[ForestRow] = []
    lvl = int(round(a.model.level * 100))

    def study_rows(members):
        out = []
        for c in members:
            i = contribs.index(c)
            marks = [mark(f) for f in c.footnotes]
            if main is not None and i in main.excluded:
                marks.append(mark(f"{c.label}: {main.excluded[i]}"))
            if c.alternatives:
                marks.append(mark(f"{c.label}: record '{c.record.id}' used ({c.reason}); "
                                  f"also reported: {', '.join(c.alternatives)}"))
            out.append(_study_row(c, main, i, kind, a.measure, marks))
        return out

    if fitted["subgroups"]:
        for sg in fitted["subgroups"]:
            rows.append(ForestRow("header", sg["name"], cells=[""] * (2 if kind == "binary" else 1)))
            rows.extend(study_rows(sg["members"]))
            if sg["result"].k >= 2:
                sub = _pooled_rows(sg["result"], f"Subtotal ({lvl}% CI)", kind, a.measure, pi=False)
                sub[0].weight = sum(main.weights[contribs.index(c)] for c in sg["members"])
                rows.extend(sub)
            rows.append(ForestRow("blank", ""))
    else:
        rows.extend(study_rows(contribs))
    summary: list[str] = []
    if main is not None and main.k >= 1:
        if main.k >= 2:
            label = f"Total ({lvl}% CI)" if not fitted["common"] else f"Random effects ({lvl}% CI)"
            pooled = _pooled_rows(main, label, kind, a.measure)
            if kind == "binary":
                recs = [c.record for c in contribs]
                pooled[0].cells = [f"{sum(r.exposed.events for r in recs)}/{sum(r.exposed.total for r in recs)}",
                                   f"{sum(r.reference.events for r in recs)}/{sum(r.reference.total for r in recs)}"]
            rows.extend(pooled[:1])
            if fitted["common"] is not None:
                c_rows = _pooled_rows(fitted["common"], f"Common effect ({lvl}% CI)", kind,
                                      a.measure, style="common", pi=False)
                c_rows[0].weight = None
                rows.extend(c_rows)
            rows.extend(pooled[1:])
            summary.append(_het_line(main))
            summary.append(_overall_line(main))
            if fitted["subgroup_test"]:
                t = fitted["subgroup_test"]
                summary.append(f"Test for subgroup differences: χ² = {_fmt(t['q_between'])}, "
                               f"df = {t['df']} (P = {_pfmt(t['pval'])})")
            ci_kind = {"wald": "Wald z", "hksj": "Hartung–Knapp–Sidik–Jonkman t",
                       "hksj-adhoc": "HKSJ (ad hoc, never narrower than Wald)"}[main.settings.ci_type]
            model = (f"Model: {main.method} τ², {ci_kind} CI"
                     if main.settings.random else f"Model: {main.method} common effect")
            if main.pi_note and main.settings.random:
                model += f"; {main.pi_note}"
            elif main.settings.random:
                model += f"; prediction interval t with {'k−2' if a.model.pi == 'hts' else a.model.pi} df"
            summary.append(model)
        else:
            summary.append("Not pooled: a single study (k = 1); its own estimate is shown")
        for w in main.warnings:
            if w.startswith(("k = 2", "k = 3", "k = 4", "an iterative")):
                summary.append("Caution: " + w)
    elif not contribs:
        summary.append("No study reports an estimate for this analysis")
    not_pooled = [f"{n.label}: {n.reason}" for n in data.not_pooled]
    header = {"binary": ["Exposed\nn/N", "Reference\nn/N"], "proportion": ["Events/N"],
              "ratio": ["Model"]}[kind]
    measure = MEASURE_NAMES.get(a.measure, a.measure)
    method = _model_text(a) if kind != "proportion" else a.measure + ", Random"
    log_scale = a.measure in ("OR", "RR", "HR", "RATIO")
    null = 1.0 if log_scale else (0.0 if a.measure == "RD" else None)
    favours = tuple(a.favours) if len(a.favours) == 2 else None
    return ForestSpec(
        title=a.title, rows=rows, columns=header,
        effect_header=f"{measure}\n{method}, {lvl}% CI", log_scale=log_scale, null_value=null,
        xlabel=measure, favours=favours, summary_lines=summary, footnotes=footnotes,
        not_pooled=not_pooled, percent_axis=a.measure in ("PR", "PLO", "PAS", "PFT"),
    )


def result_row(a: Analysis, data: AnalysisData, fitted: dict[str, Any]) -> dict[str, Any]:
    main = fitted["main"]
    row: dict[str, Any] = {"id": a.id, "title": a.title, "section": a.section,
                           "measure": a.measure, "model": a.model.method, "k": 0,
                           "not_pooled": len(data.not_pooled)}
    if main is None:
        return row | {"note": "no study reports an estimate"}
    d = main.to_dict()
    bt = d["backtransformed"]
    row.update({
        "k": d["k"], "estimate": bt["estimate"], "ci_lb": bt["ci_lb"], "ci_ub": bt["ci_ub"],
        "pi_lb": bt["pi_lb"], "pi_ub": bt["pi_ub"], "pval": d["pval"], "tau2": d["tau2"],
        "i2": d["i2"], "q_pval": d["q_pval"], "ci_type": d["ci_type"],
        "note": "single study, not pooled" if d["k"] == 1 else (
            "k = 2: imprecise" if d["k"] == 2 else ""),
    })
    if d["k"] < 2:  # no heterogeneity to speak of with one study
        row.update({"tau2": None, "i2": None, "q_pval": None})
    return row


def analysis_json(a: Analysis, data: AnalysisData, fitted: dict[str, Any]) -> dict[str, Any]:
    main = fitted["main"]
    out: dict[str, Any] = {"analysis": a.model_dump(mode="json"), "carsynth_version": __version__}
    if main is not None:
        out.update(main.to_dict())
        # each study's weight and data traced to its file, record and quote
        for i, c in enumerate(data.contributions):
            out["studies"][i]["provenance"] = c.provenance()
    else:
        out["k"] = 0
    if fitted["common"] is not None:
        out["common_effect"] = fitted["common"].to_dict()
    out["subgroups"] = [{"name": s["name"], **s["result"].to_dict()} for s in fitted["subgroups"]]
    out["subgroup_test"] = fitted["subgroup_test"]
    out["not_pooled"] = [n.__dict__ for n in data.not_pooled]
    return out


def render(a: Analysis, data: AnalysisData, studies: dict[str, Any] | None = None
           ) -> tuple[dict[str, bytes], dict[str, Any], dict[str, Any]]:
    """All files of one analysis, in memory: {relative path: bytes}, its results row and
    its heterogeneity section."""
    from .het_report import analyse
    from .plots import forest_figure, funnel_figure, save_figure

    fitted = compute(a, data)
    files: dict[str, bytes] = {}
    spec = forest_spec(a, data, fitted)
    fig = forest_figure(spec)
    buffers: dict[str, bytes] = {}
    save_figure(fig, f"{a.id}/forest", writer=lambda p, b: buffers.__setitem__(p, b))
    files.update(buffers)
    main = fitted["main"]
    info = analysis_json(a, data, fitted)
    if main is not None and main.k >= 10:
        import numpy as np
        ok = np.isfinite(main.yi)
        ffig = funnel_figure(main.yi[ok], np.sqrt(main.vi[ok]), main.estimate, a.title,
                             a.measure in ("OR", "RR", "HR", "RATIO"))
        buffers = {}
        save_figure(ffig, f"{a.id}/funnel", writer=lambda p, b: buffers.__setitem__(p, b))
        files.update(buffers)
        info["funnel"] = "funnel.png"
    else:
        k = main.k if main is not None else 0
        info["funnel"] = None
        info["funnel_note"] = (f"no funnel plot: k = {k} < 10 studies, too few to judge "
                               f"small-study effects (Cochrane Handbook §13.3.5.4)")
    files[f"{a.id}/result.json"] = (json.dumps(info, indent=2, ensure_ascii=False,
                                               allow_nan=False) + "\n").encode()
    het = analyse(a, data, fitted, studies or {})
    files.update(het.files)
    files[f"{a.id}/heterogeneity.json"] = _json_bytes(het.data)
    return files, result_row(a, data, fitted), {"title": a.title, "data": het.data}


def _json_bytes(obj) -> bytes:
    # sorted keys: the same bytes whether built now or reassembled from the state file
    return (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, sort_keys=True)
            + "\n").encode()


def _render_job(args):
    a, data, studies = args
    return render(a, data, studies)


# --- summary files -----------------------------------------------------------------

RESULT_COLUMNS = ["id", "title", "section", "k", "measure", "model", "ci_type", "estimate",
                  "ci_lb", "ci_ub", "pi_lb", "pi_ub", "pval", "tau2", "i2", "q_pval",
                  "not_pooled", "note"]


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6g}" if isinstance(r.get(k), float)
                                                      else r[k])) for k in RESULT_COLUMNS})
    return buf.getvalue().encode()


def _md(plan: ReviewPlan, rows: list[dict[str, Any]]) -> bytes:
    lines = [f"# {plan.title}", "", "Generated by `carsynth build`; do not edit by hand.", "",
             "| analysis | k | measure | estimate [95% CI] | prediction interval | τ² | I² | Q p | model |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        est = (f"{_fmt(r.get('estimate'))} [{_fmt(r.get('ci_lb'))}, {_fmt(r.get('ci_ub'))}]"
               if r.get("estimate") is not None else "—")
        pi = (f"[{_fmt(r.get('pi_lb'))}, {_fmt(r.get('pi_ub'))}]"
              if r.get("pi_lb") is not None else "—")
        extra = f" ({r['note']})" if r.get("note") else ""
        lines.append(f"| [{r['title']}]({r['id']}/forest.png){extra} | {r['k']} | {r['measure']} | "
                     f"{est} | {pi} | {_fmt(r.get('tau2'), 3)} | {_fmt(r.get('i2'), 0)}% | "
                     f"{_pfmt(r.get('q_pval'))} | {r['model']} |")
    return ("\n".join(lines) + "\n").encode()


def _index(plan: ReviewPlan, rows: list[dict[str, Any]]) -> bytes:
    e = html.escape
    parts = ["<!doctype html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{e(plan.title)}</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;"
             "text-align:left}img{max-width:100%;border:1px solid #eee}</style></head><body>",
             f"<h1>{e(plan.title)}</h1>",
             "<p><a href=\"results.csv\">results.csv</a> · <a href=\"results.md\">results.md</a></p>"]
    sections: dict[str, list] = {}
    for r in rows:
        sections.setdefault(r["section"], []).append(r)
    for name, rs in sections.items():
        parts.append(f"<h2>{e(name)}</h2><table><tr><th>analysis</th><th>k</th><th>estimate [95% CI]"
                     "</th><th>files</th></tr>")
        for r in rs:
            est = (f"{_fmt(r.get('estimate'))} [{_fmt(r.get('ci_lb'))}, {_fmt(r.get('ci_ub'))}]"
                   if r.get("estimate") is not None else "—")
            rid = e(r["id"])
            parts.append(f"<tr><td><a href=\"#{rid}\">{e(r['title'])}</a></td><td>{r['k']}</td>"
                         f"<td>{est}</td><td><a href=\"{rid}/forest.pdf\">PDF</a> · "
                         f"<a href=\"{rid}/forest.svg\">SVG</a> · "
                         f"<a href=\"{rid}/result.json\">JSON</a></td></tr>")
        parts.append("</table>")
        for r in rs:
            rid = e(r["id"])
            parts.append(f"<h3 id=\"{rid}\">{e(r['title'])}</h3><img src=\"{rid}/forest.png\" "
                         f"alt=\"forest plot: {e(r['title'])}\">")
    parts.append("</body></html>")
    return ("\n".join(parts) + "\n").encode()


# --- the command -------------------------------------------------------------------


def build(plan_path: Path, output: Path | None = None, force: bool = False,
          only: list[str] | None = None, sources: Path | None = None, jobs: int = 2,
          progress: bool = False) -> BuildReport:
    plan = load_plan(plan_path)
    root = plan_path.resolve().parent
    out_dir = output or (root / plan.output)
    if only:
        known = {a.id for a in plan.analyses}
        unknown = [x for x in only if x not in known]
        if unknown:
            raise BuildError([f"unknown analysis '{u}'; analyses are: {', '.join(sorted(known))}"
                              for u in unknown])
    studies, _ = _load_studies(plan, root, sources)
    state_path = out_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    except (OSError, ValueError):
        state = {}
    entries = state.get("analyses", {})
    todo: list[tuple[Analysis, AnalysisData, str]] = []
    rows: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for a in plan.analyses:
        data = select(a, studies)
        key = _key(a, data)
        prev = entries.get(a.id)
        selected = not only or a.id in only
        outputs_ok = prev is not None and all((out_dir / f).is_file() for f in prev.get("files", []))
        if prev and prev.get("key") == key and outputs_ok and not (force and selected):
            rows[a.id] = prev["row"]
            skipped.append(a.id)
            continue
        if not selected:  # --only: other analyses keep whatever they had
            if prev is not None:
                rows[a.id] = prev["row"]
            skipped.append(a.id)
            continue
        todo.append((a, data, key))

    rendered: dict[str, tuple[dict[str, bytes], dict[str, Any], str]] = {}
    hets: dict[str, dict[str, Any]] = {}
    by_id = {s.id: s for s, _ in studies}
    if todo:
        jobs = max(1, min(jobs, len(todo), os.cpu_count() or 1))
        job_args = [(a, d, {c.study_id: by_id[c.study_id] for c in d.contributions})
                    for a, d, _ in todo]
        results_iter = _run_jobs(job_args, jobs)
        for n, ((a, _d, key), (files, row, het)) in enumerate(zip(todo, results_iter), 1):
            rendered[a.id] = (files, row, key)
            hets[a.id] = het
            if progress:
                bar = "#" * int(30 * n / len(todo))
                print(f"\r  [{bar:<30}] {n}/{len(todo)} {a.id[:40]:<40}", end="", file=sys.stderr)
        if progress:
            print(file=sys.stderr)
    for a_id, (files, row, key) in rendered.items():
        rows[a_id] = row
    ordered = [rows[a.id] for a in plan.analyses if a.id in rows]
    all_files: dict[str, bytes] = {}
    for files, _, _ in rendered.values():
        all_files.update(files)
    all_files["results.csv"] = _csv(ordered)
    all_files["results.md"] = _md(plan, ordered)
    all_files["index.html"] = _index(plan, ordered)
    het_sections = []
    for a in plan.analyses:
        if a.id in hets:
            het_sections.append(hets[a.id])
        elif a.id in entries and "het" in entries[a.id]:
            het_sections.append(entries[a.id]["het"])
    from .het_report import markdown as het_markdown

    all_files["heterogeneity.md"] = het_markdown(het_sections, plan.title).encode()
    all_files["heterogeneity.json"] = _json_bytes(
        {"title": plan.title, "analyses": {a.id: h["data"] for a, h in
                                           zip([x for x in plan.analyses if x.id in hets or
                                                "het" in entries.get(x.id, {})], het_sections)}})
    # commit: every file written atomically, only after everything rendered
    written, unchanged = [], []
    for rel in sorted(all_files):
        (written if write_atomic(out_dir / rel, all_files[rel]) else unchanged).append(rel)
    new_entries = {a.id: entries[a.id] for a in plan.analyses if a.id in entries and a.id not in rendered}
    for a_id, (files, row, key) in rendered.items():
        new_entries[a_id] = {"key": key, "row": row, "files": sorted(files), "het": hets[a_id]}
    state = {"carsynth_version": __version__,
             "analyses": {a.id: new_entries[a.id] for a in plan.analyses if a.id in new_entries}}
    write_atomic(state_path, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
    return BuildReport(built=list(rendered), skipped=skipped, written=written,
                       unchanged=unchanged, output=out_dir)


def _run_jobs(jobs_args, jobs: int):
    if jobs <= 1 or len(jobs_args) < 4:
        return [_render_job(x) for x in jobs_args]
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(_render_job, jobs_args))


def run_cli(args) -> int:
    plan_path = Path(args.plan)
    if not plan_path.is_file():
        print(f"carsynth build: {plan_path}: no such file (the review plan)", file=sys.stderr)
        return 2
    try:
        report = build(plan_path, Path(args.output) if args.output else None, force=args.force,
                       only=args.only, sources=Path(args.sources) if args.sources else None,
                       jobs=args.jobs, progress=sys.stderr.isatty() and not args.quiet)
    except PlanError as exc:
        for m in exc.messages:
            print(m, file=sys.stderr)
        print("build stopped: the review plan has errors; previous outputs left untouched",
              file=sys.stderr)
        return 1
    except BuildError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"carsynth build: {len(report.built)} analyses built, {len(report.skipped)} "
              f"unchanged; {len(report.written)} files written to {report.output}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="regenerate every analysis, forest plot and result table")
    p.add_argument("--plan", default="review.yaml", help="the review plan (default review.yaml)")
    p.add_argument("--output", metavar="DIR", help="output folder (default: the plan's, output/)")
    p.add_argument("--sources", metavar="DIR", help="source documents (default: the plan's)")
    p.add_argument("--force", action="store_true", help="rebuild even unchanged analyses")
    p.add_argument("--only", nargs="+", metavar="ID", help="build only these analyses")
    p.add_argument("--jobs", type=int, default=2, help="processes for drawing (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary line")
    p.set_defaults(func=run_cli)
