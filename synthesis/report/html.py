"""index.html: the overview first, then every analysis with its forest plot, heterogeneity
section, diagnostic plots and the studies that could not be pooled.

The page is one self-contained file that links to files in the same output folder by
relative paths only, so the folder works opened from disk (file://) or copied elsewhere.
It is built from the analyses' results rows and heterogeneity sections (both kept in the
build state), so analyses skipped by an incremental build still appear in full.
"""

from __future__ import annotations

import html
from typing import Any

from ..fmt import fixed as _fmt
from ..fmt import p_value as _pfmt
from ..plan import ReviewPlan
from .overview import PROPORTION_MEASURES, printed_effect

#: per-analysis plots shown under the heterogeneity section, in this order, with captions
DIAGNOSTIC_PLOTS = (
    ("leave_one_out.png", "Leave-one-out: the estimate without each study"),
    ("baujat.png", "Baujat plot: contribution to heterogeneity against influence"),
    ("bayes.png", "Bayesian random effects: posterior of the effect and of τ"),
    ("bayes_posterior.png", "Bayesian random effects: posterior distributions"),
    ("funnel.png", "Funnel plot"),
    ("rob_traffic_light.png", "Risk of bias: each study's domains"),
    ("rob_summary.png", "Risk of bias: summary across studies"),
)
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:75em;margin:2em auto;
padding:0 1em;line-height:1.4;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #333}h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border-bottom:1px solid #ddd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#f4f4f4}
tr.none td{color:#666;font-style:italic}
img{max-width:100%;height:auto;border:1px solid #eee}
section.analysis{border-top:1px solid #ccc;margin-top:1.5em}
.lead{font-size:1.05em}.why,.note{color:#555;font-size:.92em}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots figure{margin:0;max-width:36em}
figcaption{font-size:.85em;color:#555}
nav a{margin-right:.8em}
""".strip()


def _num(measure: str, x: float | None) -> str:
    if x is None:
        return "—"
    return f"{100 * x:.1f}%" if measure in PROPORTION_MEASURES else _fmt(x)


def estimate_text(r: dict[str, Any]) -> str:
    """'0.52 [0.22, 1.21] (95% CrI)' for a results row; '—' without an estimate."""
    if r.get("estimate") is None:
        return "—"
    m = r["measure"]
    level = round(100 * (r.get("level") or 0.95))
    if r.get("lead_printed"):
        return f"{printed_effect(r['estimate'], r['ci_lb'], r['ci_ub'])} ({level}% CI, as printed)"
    return (f"{_num(m, r['estimate'])} [{_num(m, r.get('ci_lb'))}, {_num(m, r.get('ci_ub'))}] "
            f"({level}% {r.get('lead_interval') or 'CI'})")


def _alt_text(measure: str, a: dict[str, Any]) -> str:
    level = round(100 * (a.get("level") or 0.95))
    return (f"{a.get('label')}: {_num(measure, a.get('estimate'))} [{_num(measure, a.get('ci_lb'))}, "
            f"{_num(measure, a.get('ci_ub'))}] ({level}% {a.get('interval') or 'CI'})")


def _het_section(h: dict[str, Any] | None) -> list[str]:
    e = html.escape
    if not h:
        return ["<p class=\"note\">No heterogeneity section for this analysis.</p>"]
    out = []
    if h.get("reading"):
        out.append(f"<p>{e(str(h['reading']))}</p>")
    k = h.get("k") or 0
    if k >= 2:
        bits = []
        if h.get("i2") is not None:
            bits.append(f"I² = {_fmt(h['i2'], 0)}% ({h.get('i2_label') or 'Higgins–Thompson'})")
        ci = h.get("i2_ci")
        if h.get("i2_tau2") is not None:
            bits.append(f"τ²-based I² = {_fmt(h['i2_tau2'], 0)}%" + (
                f" [{_fmt(ci[0], 0)}%, {_fmt(ci[1], 0)}%]" if ci and ci[0] is not None else ""))
        if h.get("tau") is not None:
            ci = h.get("tau_ci") or [None, None]
            bits.append(f"τ = {_fmt(h['tau'], 3)}" + (
                f" [{_fmt(ci[0], 3)}, {_fmt(ci[1], 3)}]" if ci and ci[0] is not None else ""))
        if h.get("q") is not None:
            df = h.get("q_df")
            df_text = f"{df:g}" if isinstance(df, (int, float)) else "—"
            bits.append(f"{h.get('q_label') or 'Q'}: {_fmt(h['q'])}, df = {df_text}, "
                        f"p = {_pfmt(h.get('q_pval'))}")
        if bits:
            out.append(f"<p class=\"note\">{e('; '.join(bits))}</p>")
    return out


def _analysis_section(r: dict[str, Any], het: dict[str, Any] | None, files: list[str]) -> str:
    e = html.escape
    rid = e(r["id"])
    parts = [f"<section class=\"analysis\" id=\"{rid}\"><h3>{e(r['title'])}</h3>"]
    measure = r["measure"]
    if r.get("estimate") is not None:
        single = " (a single study, not pooled)" if r.get("k") == 1 else ""
        name = "Proportion" if measure in PROPORTION_MEASURES else measure
        parts.append(f"<p class=\"lead\"><strong>{e(name)} {e(estimate_text(r))}</strong>; "
                     f"k = {r['k']}{e(single)}. Lead estimate: {e(r.get('lead_method') or '')}.</p>")
        if r.get("lead_rule") and r.get("alternatives"):
            parts.append(f"<p class=\"why\">Why this one: {e(r['lead_rule'])}</p>")
        if r.get("alternatives"):
            parts.append("<ul class=\"alternatives\">" + "".join(
                f"<li>{e(_alt_text(measure, a))}</li>" for a in r["alternatives"]) + "</ul>")
    else:
        parts.append(f"<p class=\"lead\"><strong>No estimate</strong>: "
                     f"{e(r.get('no_estimate') or r.get('note') or 'no study reports one')}.</p>")
    have = set(files)
    parts.append(f"<figure><img src=\"{rid}/forest.png\" alt=\"forest plot: {e(r['title'])}\">"
                 f"<figcaption>Forest plot: <a href=\"{rid}/forest.pdf\">PDF</a> · "
                 f"<a href=\"{rid}/forest.svg\">SVG</a> · <a href=\"{rid}/result.json\">result.json"
                 f"</a>" + "".join(f" · <a href=\"{rid}/{name}\">{name}</a>"
                                   for name in ("heterogeneity.json", "reproduce.R")
                                   if f"{r['id']}/{name}" in have)
                 + "</figcaption></figure>")
    parts.append("<h4>Heterogeneity</h4>")
    parts.extend(_het_section(het))
    plots = [(name, caption) for name, caption in DIAGNOSTIC_PLOTS if f"{r['id']}/{name}" in have]
    plots += [(f.split("/", 1)[1], "Meta-regression: " + f.split("/bubble_", 1)[1][:-4])
              for f in sorted(have) if f.startswith(f"{r['id']}/bubble_") and f.endswith(".png")]
    if plots:
        parts.append("<div class=\"plots\">" + "".join(
            f"<figure><img src=\"{rid}/{e(name)}\" alt=\"{e(caption)}\"><figcaption>"
            f"{e(caption)}</figcaption></figure>" for name, caption in plots) + "</div>")
    parts.append("<h4>Not pooled</h4>")
    reasons = r.get("not_pooled_reasons") or []
    parts.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in reasons) + "</ul>" if reasons
                 else "<p class=\"note\">Every matching study was pooled.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def index_html(plan: ReviewPlan, rows: list[dict[str, Any]], appraisal: str = "", *,
               hets: dict[str, dict[str, Any]] | None = None,
               files: dict[str, list[str]] | None = None, overview: str = "") -> bytes:
    """The index page. ``rows``: results rows in plan order; ``appraisal``: the SoF/certainty
    section (synthesis.appraisal); ``hets``: {id: heterogeneity section data}; ``files``: {id:
    that analysis' output files}; ``overview``: the overview HTML fragment
    (synthesis.report.overview.overview_html), shown first."""
    e = html.escape
    hets, files = hets or {}, files or {}
    parts = ["<!doctype html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             f"<title>{e(plan.title)}</title>", f"<style>{STYLE}</style></head><body>",
             f"<h1>{e(plan.title)}</h1>",
             "<nav><a href=\"#overview\">Overview</a><a href=\"#analyses\">All analyses</a>"
             "<a href=\"results.csv\">results.csv</a><a href=\"results.md\">results.md</a>"
             "<a href=\"heterogeneity.md\">heterogeneity.md</a>"
             + ("<a href=\"#appraisal\">Certainty of evidence</a>" if appraisal else "")
             + "</nav>"]
    if overview:
        parts.append(overview)
    parts.append("<section id=\"analyses\"><h2>All analyses</h2><table><thead><tr><th>analysis</th>"
                 "<th>measure</th><th>k</th><th>lead estimate [interval]</th><th>how</th>"
                 "<th>not pooled</th></tr></thead><tbody>")
    for r in rows:
        rid = e(r["id"])
        cls = "" if r.get("estimate") is not None else " class=\"none\""
        parts.append(f"<tr{cls}><td><a href=\"#{rid}\">{e(r['title'])}</a></td>"
                     f"<td>{e(r['measure'])}</td><td>{r['k']}</td><td>{e(estimate_text(r))}</td>"
                     f"<td>{e(r.get('lead_method') or r.get('no_estimate') or '')}</td>"
                     f"<td>{r.get('not_pooled') or 0}</td></tr>")
    parts.append("</tbody></table></section>")
    sections: dict[str, list] = {}
    for r in rows:
        sections.setdefault(r["section"], []).append(r)
    for name, rs in sections.items():
        parts.append(f"<h2>{e(name)}</h2>")
        parts.extend(_analysis_section(r, hets.get(r["id"]), files.get(r["id"], [])) for r in rs)
    if appraisal:
        parts.append(appraisal)
    parts.append("</body></html>")
    return ("\n".join(parts) + "\n").encode()
