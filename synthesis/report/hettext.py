"""Words of the heterogeneity report: the plain-language reading and the Markdown.

Conventions (issue 14):

* Every estimate is on the reader's scale (proportion, OR, HR) with its CI;
  the analysis scale (logit, log ratio) appears only in heterogeneity.json,
  under ``analysis_scale``.
* "I²" is always Higgins & Thompson's (Q − df)/Q (2002, eq. 10; the I² of
  forest plots and RevMan). The other one is always called "τ²-based I²"
  (τ²/(τ² + s²), Higgins & Thompson 2002 eq. 9; metafor's ``I2``); its CI comes
  from the Q-profile CI of τ² (Viechtbauer 2007). A GLMM has only the τ²-based one.
* An interval for I² is read against the Cochrane Handbook's overlapping bands
  (§10.10.2: 0–40% might not be important, 30–60% moderate, 50–90% substantial,
  75–100% considerable), naming both ends.
"""

from __future__ import annotations

from typing import Any

from .. import measures
from ..fmt import fixed, p_value, pct, sig
from .escape import md

#: Cochrane Handbook §10.10.2 bands, read at an interval's ends
BANDS = ((40, "might not be important"), (60, "moderate"), (90, "substantial"),
         (101, "considerable"))


def band(i2: float) -> str:
    """The Cochrane band an I² value falls in (the lowest band that contains it)."""
    for upper, name in BANDS:
        if i2 < upper:
            return name
    return BANDS[-1][1]


def i2_interval_words(lo: float, hi: float, what: str = "the τ²-based I²") -> str:
    """A sentence for a CI of I² that is true whatever its limits."""
    head = f"The 95% CI for {what}, {lo:.0f}% to {hi:.0f}%,"
    if lo < 0.5:
        return (f"{head} includes no heterogeneity (0%) and reaches {hi:.0f}% "
                f"({band(hi)}): the data cannot tell these apart.")
    if band(lo) == band(hi):
        return (f"{head} excludes no heterogeneity and lies within one Cochrane Handbook band "
                f"({band(hi)}; §10.10.2).")
    return (f"{head} excludes no heterogeneity; it runs from heterogeneity that "
            f"{'' if band(lo).startswith('might') else 'is '}{band(lo)} ({lo:.0f}%) to "
            f"{band(hi)} ({hi:.0f}%).")


def fmt_est(x: float | None, measure: str) -> str:
    """An estimate with the measure's decimals (3 for proportions, 2 for ratios)."""
    digits = measures.get(measure).digits
    return "—" if x is None else f"{x:.{digits}f}"


def est_ci(d: dict[str, Any], measure: str, prefix: str = "") -> str:
    """'0.151 (95% CI 0.071 to 0.293)' from the reader's-scale keys of ``d``."""
    e, lo, hi = d.get(prefix + "estimate"), d.get(prefix + "ci_lb"), d.get(prefix + "ci_ub")
    if e is None:
        return "—"
    return f"{fmt_est(e, measure)} (95% CI {fmt_est(lo, measure)} to {fmt_est(hi, measure)})"


def reading(d: dict[str, Any], bt: dict[str, Any], measure: str) -> str:
    """A plain-language reading of the heterogeneity statistics that respects k.

    ``d``: PoolResult.to_dict() keys (k, q_pval, i2, i2_tau2, i2_ci_lb/ub, tau2,
    tau2_ci_lb/ub, method, pi_note); ``bt``: its reader's-scale prediction interval.
    """
    k = d["k"]
    if k == 0:
        return "No study reports an estimate for this analysis."
    if k == 1:
        return ("k = 1: a single cohort. Heterogeneity between cohorts cannot be assessed, "
                "and the estimate is that study's own.")
    glmm = d.get("method") == "GLMM"
    q_name = "the likelihood-ratio test" if glmm else "Cochran's Q"
    parts = []
    if k == 2:
        ci = ("" if glmm or d.get("tau2_ci_lb") is None else
              f", 95% CI {sig(d['tau2_ci_lb'])} to {sig(d['tau2_ci_ub'])}")
        parts.append(
            f"k = 2: τ² cannot be estimated reliably (τ² = {sig(d['tau2'])}{ci}). "
            f"{q_name[0].upper() + q_name[1:]} (p = {p_value(d['q_pval'])}) has almost no power "
            f"with two studies, so a large p is not evidence that the cohorts agree.")
    else:
        few = f"With only {k} studies these statistics are imprecise. " if k < 5 else ""
        if glmm:
            stats = (f"τ²-based I² = {pct(d['i2_tau2'])} (τ² = {sig(d['tau2'])}, "
                     f"{q_name} p = {p_value(d['q_pval'])}; a GLMM has no Q-based I²).")
        else:
            stats = (f"I² = {pct(d['i2'])} (τ²-based I² = {pct(d['i2_tau2'])}, "
                     f"τ² = {sig(d['tau2'])}, Q p = {p_value(d['q_pval'])}).")
        lo, hi = d.get("i2_ci_lb"), d.get("i2_ci_ub")
        span = f" {i2_interval_words(lo, hi)}" if lo is not None and hi is not None else ""
        parts.append(f"{few}{stats}{span}")
    m = measures.get(measure)
    if bt.get("pi_lb") is not None:
        crosses = m.test_null and m.null is not None and bt["pi_lb"] < m.null < bt["pi_ub"]
        parts.append(
            f"The {'proportion' if m.proportion else 'effect'} in a new cohort like these could "
            f"lie between {fmt_est(bt['pi_lb'], measure)} and {fmt_est(bt['pi_ub'], measure)} "
            f"(95% prediction interval)" + (", which includes no effect." if crosses else "."))
    else:
        note = (d.get("pi_note") or "too few studies").removeprefix("no prediction interval: ")
        parts.append(f"No prediction interval: {note}.")
    return " ".join(parts)


def _subgroup_line(sg: dict[str, Any], measure: str) -> str:
    levels = "; ".join(f"{md(x['level'])} (k = {x['k']}): {est_ci(x, measure)}"
                       for x in sg["levels"])  # levels are study text (e.g. car_targets)
    if sg.get("test_note"):
        test = md(sg["test_note"])  # it names the levels
    else:
        test = (f"test for subgroup differences Q = {fixed(sg['q_between'])}, df = {sg['df']}, "
                f"p = {p_value(sg['pval'])}")
    return f"- subgroups by {sg['moderator']}: {levels}; {test}"


def _regression_line(mr: dict[str, Any]) -> str:
    s = mr["slope"]
    what = s["label"]
    return (f"- meta-regression on {mr['moderator']}: {what} {sig(s['estimate'], 4)} (95% CI "
            f"{sig(s['ci_lb'], 4)} to {sig(s['ci_ub'], 4)}), test of the moderator "
            f"p = {p_value(mr['qm_pval'])}, R² = {pct(mr['r2'])}")


def section_markdown(title: str, d: dict[str, Any]) -> list[str]:
    """The Markdown lines of one analysis."""
    m = d.get("measure", "GEN")
    # study and plan text is escaped (report.escape): no raw HTML or Markdown gets through
    lines = [f"## {md(title)}", "", md(d.get("reading", "")), ""]
    k = d.get("k", 0)
    if k >= 1 and d.get("estimate") is not None:
        if k == 1:
            lines.append(f"- single study, not pooled: {est_ci(d, m)}")
        else:
            lines.append(f"- {d.get('estimate_label', 'estimate')}, {d.get('model_label', '')}: "
                         f"{est_ci(d, m)}")
    for s in d.get("sensitivity", []):
        label = s["label"][:1].lower() + s["label"][1:]
        lines.append(f"- sensitivity analysis, {md(label)}: {est_ci(s, m)}")
    if k >= 2:
        if d.get("method") == "GLMM":
            lines.append(f"- likelihood-ratio Q = {fixed(d['q'])}, df = {d['q_df']:.0f}, "
                         f"p = {p_value(d['q_pval'])}; τ²-based I² = {pct(d['i2_tau2'])} "
                         f"(no CI for a GLMM)")
        else:
            lines.append(f"- Q = {fixed(d['q'])}, df = {d['q_df']:.0f}, p = {p_value(d['q_pval'])}; "
                         f"I² = {pct(d['i2'])}; τ²-based I² = {pct(d['i2_tau2'])} (95% CI "
                         f"{pct(d['i2_ci'][0])} to {pct(d['i2_ci'][1])})")
        ci = ("" if d.get("tau2_ci", [None])[0] is None else
              f" (95% CI {sig(d['tau2_ci'][0])} to {sig(d['tau2_ci'][1])})")
        lines.append(f"- τ² = {sig(d['tau2'])}{ci}; τ = {sig(d['tau'])}; H² = {sig(d['h2'])}")
        if d.get("pi_backtransformed", [None])[0] is not None:
            lo, hi = d["pi_backtransformed"]
            lines.append(f"- 95% prediction interval: {fmt_est(lo, m)} to {fmt_est(hi, m)}")
    if d.get("diagnostics_note"):
        lines.append(f"- {md(d['diagnostics_note'])}")
    if d.get("outliers"):
        lines.append(f"- outliers (|studentized residual| > 1.96): "
                     f"{', '.join(map(md, d['outliers']))}")
    if d.get("influential"):
        lines.append(f"- influential (metafor's criteria): {', '.join(map(md, d['influential']))}")
    if d.get("influence_note"):
        lines.append(f"- {md(d['influence_note'])}")
    for sg in d.get("subgroups", []):
        lines.append(_subgroup_line(sg, m))
    for mr in d.get("meta_regression", []):
        lines.append(_regression_line(mr))
    for note in d.get("moderator_notes", []):
        lines.append(f"- note: {md(note)}")
    if "bayes" in d:
        b = d["bayes"]
        mu, theta = b["backtransformed"]["mu"], b["backtransformed"]["theta"]
        tau = b["tau"]
        lines.append(
            f"- Bayesian random effects ({b['prior']['tau']} prior on τ, {b['prior']['mu']} on "
            f"μ): {fmt_est(mu['median'], m)} (95% CrI {fmt_est(mu['lower'], m)} to "
            f"{fmt_est(mu['upper'], m)}); τ = {sig(tau['median'])} (95% CrI "
            f"{sig(tau['lower'])} to {sig(tau['upper'])}); a new cohort "
            f"{fmt_est(theta['lower'], m)} to {fmt_est(theta['upper'], m)}")
    if "bayes_note" in d:
        lines.append(f"- {d['bayes_note']}")
    lines.append("")
    return lines


def markdown(sections: list[dict[str, Any]], title: str) -> str:
    lines = [f"# Heterogeneity across cohorts — {md(title)}", "",
             "Generated by `carsynth heterogeneity` (also by `carsynth build`). Estimates are on "
             "the reader's scale (proportion, odds ratio, hazard ratio). I² is Higgins and "
             "Thompson's (Q − df)/Q, as in the forest plots; the τ²-based I² is τ²/(τ² + s²), "
             "s² the typical within-study variance (metafor's I²), with a CI from the "
             "Q-profile interval for τ².", ""]
    for s in sections:
        lines += section_markdown(s["title"], s["data"])
    return "\n".join(lines) + "\n"
