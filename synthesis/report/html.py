"""index.html: every analysis of the review with its forest plot and files."""

from __future__ import annotations

import html
from typing import Any

from ..fmt import fixed as _fmt
from ..plan import ReviewPlan


def index_html(plan: ReviewPlan, rows: list[dict[str, Any]], appraisal: str = "") -> bytes:
    """The index page; ``appraisal``: the SoF/certainty section (synthesis.appraisal)."""
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
            if r.get("not_pooled_reasons"):  # every study left out, with the rule (select.py)
                parts.append("<p>Not pooled:</p><ul>" + "".join(
                    f"<li>{e(x)}</li>" for x in r["not_pooled_reasons"]) + "</ul>")
    if appraisal:
        parts.append(appraisal)
    parts.append("</body></html>")
    return ("\n".join(parts) + "\n").encode()
