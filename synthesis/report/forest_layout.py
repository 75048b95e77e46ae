"""The forest plot of one analysis as a `ForestSpec` (rows, columns, summary lines, notes).

Reads an `AnalysisFit`; synthesis.plots draws the spec.
"""

from __future__ import annotations

import math

from .. import measures
from ..codes import CAUTIONS, code_of
from ..fmt import effect_ci as fmt_effect
from ..fmt import fixed as _fmt
from ..fmt import p_value as _pfmt
from ..pipeline import AnalysisFit
from ..plan import Analysis
from ..plots import ForestRow, ForestSpec
from .overview import printed_effect

def printed_ci_level(record, kind: str) -> float | None:
    """The level of the CI a study row shows as printed (a ratio with its CI), else None."""
    if kind == "ratio" and getattr(record, "ci_lower", None) is not None:
        return float(record.ci_level)
    return None


def _study_row(c, res, i, kind, measure, marks):
    import numpy as np

    r = c.record
    yi, vi = res.yi[i], res.vi[i]
    if np.isfinite(yi):
        lo_i, hi_i = res.study_conf_int()  # Wald, at the fit's (the plan's) level
        bt = measures.backtransform(res.measure, [yi, lo_i[i], hi_i[i]], res.ni)
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
    text = fmt_effect(est, lo, hi, measures.get(measure).digits)
    if kind == "ratio" and r.ci_lower is not None and math.isfinite(est):
        text = printed_effect(est, lo, hi)  # as the paper printed it: 0.785, not 0.79
    if not np.isfinite(yi):
        text = "excluded"
    return ForestRow("study", c.label, est, lo, hi, float(w) if np.isfinite(w) else None, cells,
                     text, marks)


def _pooled_rows(res, label, kind, measure, style="random", pi=True):
    bt = res.backtransformed()
    digits = measures.get(measure).digits
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
    if res.k < 2:
        return f"{prefix}: not applicable (k = {res.k})"
    if res.method == "GLMM":  # no τ² CI and no Q-based I² (metafor rma.glmm)
        return (f"{prefix}: τ² = {_fmt(res.tau2, 3)}; likelihood-ratio χ² = {_fmt(res.q)}, "
                f"df = {int(res.q_df)} (P = {_pfmt(res.q_pval)}); τ²-based I² = "
                f"{_fmt(res.i2_tau2, 0)}%")
    tau = (f"τ² = {_fmt(res.tau2, 3)} [{_fmt(res.tau2_ci_lb, 3)}, {_fmt(res.tau2_ci_ub, 3)}]; "
           if res.method not in ("FE", "MH", "PETO") else "")
    return (f"{prefix}: {tau}χ² = {_fmt(res.q)}, df = {int(res.q_df)} "
            f"(P = {_pfmt(res.q_pval)}); I² = {_fmt(res.i2, 0)}%")


def _overall_line(res) -> str:
    stat = _fmt(abs(res.stat))
    if math.isfinite(res.df):
        return f"Test for overall effect: t({int(res.df)}) = {stat} (P = {_pfmt(res.pval)})"
    return f"Test for overall effect: Z = {stat} (P = {_pfmt(res.pval)})"


def estimate_rows(fit: AnalysisFit, plan_row: ForestRow, lvl: int) -> list[ForestRow]:
    """The summary rows: the plan's model alone (``plan_row``), or, where the fit has labelled
    alternatives (2–4 studies, a common effect shown, a GLMM, a sensitivity fit), the lead
    estimate in bold with a filled diamond and each alternative below it with an open one."""
    if not fit.alternatives or fit.lead is None:
        return [plan_row]
    digits = measures.get(fit.analysis.measure).digits
    plan_key = "random" if fit.main.settings.random else "common"
    out = []
    for i, est in enumerate((fit.lead,) + tuple(fit.alternatives)):
        label = f"{est.short or est.label} ({lvl}% {est.interval})"
        text = fmt_effect(est.estimate, est.ci_lb, est.ci_ub, digits)
        out.append(ForestRow("pooled", ("Lead: " if i == 0 else "") + label, est.estimate,
                             est.ci_lb, est.ci_ub, 100.0 if est.method == plan_key else None,
                             plan_row.cells if i == 0 else [""] * len(plan_row.cells),
                             text, style="lead" if i == 0 else "alt"))
    return out


def caution_lines(warnings) -> list[str]:
    """The fit's warnings a forest plot repeats under its summary (chosen by code)."""
    return ["Caution: " + w for w in warnings if code_of(w) in CAUTIONS]


def _model_text(a: Analysis) -> str:
    m = a.model
    if m.method in ("MH", "PETO", "FE"):
        return {"MH": "M-H, Fixed", "PETO": "Peto, Fixed", "FE": "IV, Fixed"}[m.method]
    return "IV, Random"


def forest_spec(fit: AnalysisFit) -> ForestSpec:
    """Rows, columns, summary lines and footnotes of the forest plot of one analysis."""
    a, data = fit.analysis, fit.data
    kind = a.select.kind
    main = fit.main
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
            printed = printed_ci_level(c.record, kind)
            if printed is not None and abs(printed - a.model.level) > 1e-9:
                marks.append(mark(f"{c.label}: the {printed * 100:g}% CI as printed in the paper "
                                  f"(the other intervals are {a.model.level * 100:g}%)"))
            out.append(_study_row(c, main, i, kind, a.measure, marks))
        return out

    if fit.subgroups:
        for sg in fit.subgroups:
            rows.append(ForestRow("header", sg.name, cells=[""] * (2 if kind == "binary" else 1)))
            rows.extend(study_rows(sg.members))
            if sg.result.k >= 2:
                sub = _pooled_rows(sg.result, f"Subtotal ({lvl}% CI)", kind, a.measure, pi=False)
                sub[0].weight = sum(main.weights[contribs.index(c)] for c in sg.members)
                rows.extend(sub)
            rows.append(ForestRow("blank", ""))
    else:
        rows.extend(study_rows(contribs))
    summary: list[str] = []
    if main is not None and main.k >= 1:
        if main.k >= 2:
            label = f"Total ({lvl}% CI)" if not fit.common else f"Random effects ({lvl}% CI)"
            pooled = _pooled_rows(main, label, kind, a.measure)
            if kind == "binary":
                recs = [c.record for c in contribs]
                pooled[0].cells = [f"{sum(r.exposed.events for r in recs)}/{sum(r.exposed.total for r in recs)}",
                                   f"{sum(r.reference.events for r in recs)}/{sum(r.reference.total for r in recs)}"]
            rows.extend(estimate_rows(fit, pooled[0], lvl))
            rows.extend(pooled[1:])
            if fit.alternatives and fit.lead is not None and fit.lead_rule is not None:
                summary.append(f"Lead estimate: {fit.lead.describe}. Why: {fit.lead_rule.reason}.")
                for alt in fit.alternatives:
                    if alt.note:
                        summary.append(f"{alt.short or alt.label}: {alt.note}")
                if fit.lead.note:
                    summary.append(f"{fit.lead.short or fit.lead.label}: {fit.lead.note}")
            summary.append(_het_line(main))
            if measures.get(main.measure).test_null:  # none against 50% for a proportion
                summary.append(_overall_line(main))
            if fit.subgroup_test:
                t = fit.subgroup_test
                summary.append(f"Test for subgroup differences: χ² = {_fmt(t.q_between)}, "
                               f"df = {t.df} (P = {_pfmt(t.pval)})")
            ci_kind = {"wald": "Wald z", "hksj": "Hartung–Knapp–Sidik–Jonkman t",
                       "hksj-adhoc": "HKSJ (ad hoc, never narrower than Wald)"}[main.settings.ci_type]
            model = ("Model: binomial GLMM (ML, 7-point adaptive quadrature), Wald z CI"
                     if main.method == "GLMM" else f"Model: {main.method} τ², {ci_kind} CI"
                     if main.settings.random else f"Model: {main.method} common effect")
            if main.pi_note and main.settings.random:
                model += f"; {main.pi_note}"
            elif main.settings.random:
                model += f"; prediction interval t with {'k−2' if a.model.pi == 'hts' else a.model.pi} df"
            summary.append(model)
        else:
            summary.append("Not pooled: a single study (k = 1); its own estimate is shown")
        summary.extend(caution_lines(main.warnings))
    elif not contribs:
        summary.append("No study reports an estimate for this analysis")
    not_pooled = [f"{n.label}: {n.reason}" for n in data.not_pooled]
    header = {"binary": ["Exposed\nn/N", "Reference\nn/N"], "proportion": ["Events/N"],
              "ratio": ["Model"]}[kind]
    spec = measures.get(a.measure)
    method = _model_text(a) if kind != "proportion" else a.measure + ", Random"
    favours = tuple(a.favours) if len(a.favours) == 2 else None
    interval = f"{lvl}% CI or CrI" if any(r.style in ("lead", "alt") for r in rows) else f"{lvl}% CI"
    out = ForestSpec(
        title=a.title, rows=rows, columns=header,
        effect_header=(f"{spec.name}\n{interval}" if "CrI" in interval
                       else f"{spec.name}\n{method}, {interval}"), log_scale=spec.ratio,
        null_value=spec.null, xlabel=spec.name, favours=favours, summary_lines=summary,
        footnotes=footnotes, not_pooled=not_pooled, percent_axis=spec.proportion,
    )
    if a.appraisal.rob_column and fit.appraisal is not None:  # the plan asks (issue 15)
        from ..appraisal.outputs import with_rob_column

        out = with_rob_column(out, fit.appraisal)
    return out
