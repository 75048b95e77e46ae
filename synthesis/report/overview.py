"""The overview: every exposure × outcome analysis of the plan's ``overview:`` section side by side.

:func:`overview_rows` reads the fitted analyses into typed :class:`OverviewRow`
records (one per row of the plan's section, in its order); everything else
is a pure function of those rows: :func:`overview_figure` (a forest-style
figure, one panel per outcome group, each with its own scale),
:func:`overview_markdown` and :func:`overview_html` (the same table).
Each row shows the lead estimate with its interval on the reader's scale (HR,
OR, proportion), k and participants, I² and τ, and how the lead estimate was
obtained; single-study rows are marked, and an analysis with no estimate is
listed with the reason.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from ..measures import PROPORTION as PROPORTION_MEASURES  # noqa: E402  (the registry's)
from ..measures import RATIO as RATIO_MEASURES  # noqa: E402
from .escape import md
SHORT_METHOD = {"bayes": "Bayesian RE", "random": "random effects", "common": "common effect",
                "single": "single study"}
SINGLE_MARK = "†"


def as_printed(x: float) -> str:
    """A number from a study file as the paper printed it (the shortest decimal that reads back
    as the same float: 0.785 stays 0.785, 1.83 stays 1.83), never re-rounded; at least two
    decimals, as ratios are printed (a trailing zero is lost in the file: 0.9 is 0.90)."""
    text = repr(float(x))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    return f"{x:.2f}" if decimals < 2 else text


def printed_effect(est: float, lo: float, hi: float) -> str:
    """'0.83 [0.38, 1.83]' with each number as printed."""
    return f"{as_printed(est)} [{as_printed(lo)}, {as_printed(hi)}]"


@dataclass(frozen=True)
class OverviewRow:
    """One row of the overview. Estimates are on the reader's scale; None where there is none."""

    outcome: str  # the group heading
    exposure: str
    analysis_id: str
    title: str
    measure: str  # the plan's measure: HR, OR, PLO, …
    k: int
    participants: int | None = None
    participants_complete: bool = True  # False: some studies' n unknown (a lower bound)
    estimate: float | None = None
    ci_lb: float | None = None
    ci_ub: float | None = None
    interval: str = "CI"  # CI or CrI
    level: float = 0.95
    i2: float | None = None  # percent (Higgins–Thompson), as in the heterogeneity report
    tau: float | None = None  # analysis scale: the plan model's estimate (REML by default)
    method: str = ""  # how the lead estimate was obtained (short)
    method_detail: str = ""  # the full label
    reason: str = ""  # why there is no estimate
    printed: bool = False  # a single study's estimate and CI as the paper printed them

    @property
    def single(self) -> bool:
        return self.k == 1 and self.estimate is not None

    @property
    def has_estimate(self) -> bool:
        return self.estimate is not None

    @property
    def log_scale(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def measure_label(self) -> str:
        return "proportion" if self.measure in PROPORTION_MEASURES else self.measure

    def estimate_text(self) -> str:
        if self.estimate is None:
            return "—"
        if self.printed:
            return printed_effect(self.estimate, self.ci_lb, self.ci_ub)
        if self.measure in PROPORTION_MEASURES:
            return f"{100 * self.estimate:.1f}% [{100 * self.ci_lb:.1f}, {100 * self.ci_ub:.1f}]"
        return f"{self.estimate:.2f} [{self.ci_lb:.2f}, {self.ci_ub:.2f}]"

    def k_text(self) -> str:
        if self.participants is None:
            return f"{self.k}"
        return f"{self.k} ({'' if self.participants_complete else '≥ '}{self.participants})"

    def heterogeneity_text(self) -> str:
        if self.k < 2:
            return "—"
        parts = []
        if self.i2 is not None:
            parts.append(f"I² {self.i2:.0f}%")
        if self.tau is not None:
            parts.append(f"τ {self.tau:.2f}")
        return ", ".join(parts) or "—"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"single": self.single}


# --- from fits to rows ---------------------------------------------------------------------


def study_size(study) -> int | None:
    """Participants of a study for a ratio record: infused, else evaluable, else enrolled."""
    pop = study.population
    return pop.n_infused or pop.n_evaluable or pop.n_enrolled


def participants(contributions, study_sizes: dict[str, int | None] | None = None):
    """(total, complete) over the contributing records: the counts' totals for binary and
    proportion records; for ratio records the study's size from ``study_sizes`` (None:
    unknown, and the total becomes a lower bound)."""
    total, complete = 0, True
    for c in contributions:
        r = c.record
        if r.kind == "binary":
            total += r.exposed.total + r.reference.total
        elif r.kind == "proportion":
            total += r.total
        else:
            n = (study_sizes or {}).get(c.study_id)
            if n is None:
                complete = False
            else:
                total += n
    return (total if total or complete else None), complete


def lead_fields(fit, studies: dict[str, Any]) -> dict[str, Any]:
    """The lead estimate of an analysis as fields of its results row (kept in the build state,
    so the overview and index.html can be made without refitting): ``estimate``, ``ci_lb``,
    ``ci_ub`` of the lead, ``lead_method`` naming it, the alternatives, participants, and the
    reason when there is no estimate."""
    out: dict[str, Any] = {"lead_rule": fit.lead_rule.reason if fit.lead_rule else None,
                           "alternatives": [a.to_dict() for a in fit.alternatives],
                           "not_pooled_reasons": [f"{n.label}: {n.reason}"
                                                  for n in fit.data.not_pooled]}
    if fit.lead is None:
        reasons = [f"{n.label}: {n.reason}" for n in fit.data.not_pooled]
        return out | {"estimate": None, "ci_lb": None, "ci_ub": None, "lead_method": "",
                      "lead_key": None, "no_estimate": "no study reports a poolable estimate"
                      + (f" ({'; '.join(reasons)})" if reasons else "")}
    used = [c for i, c in enumerate(fit.data.contributions) if i not in fit.main.excluded]
    sizes = {sid: study_size(st) for sid, st in studies.items()}
    n, complete = participants(used, sizes)
    lead = fit.lead
    if lead.method == "bayes":  # the row's P value and model columns are the plan model's
        out["pval"] = None
    return out | {"estimate": lead.estimate, "ci_lb": lead.ci_lb, "ci_ub": lead.ci_ub,
                  "lead_method": lead.describe, "lead_key": lead.method,
                  "lead_interval": lead.interval, "level": lead.level, "lead_tau": lead.tau,
                  "lead_printed": lead.method == "single" and lead.label.endswith("as reported"),
                  "participants": n, "participants_complete": complete}


def overview_rows(spec, rows_by_id: dict[str, dict[str, Any]]) -> list[OverviewRow]:
    """The rows of the plan's overview section from the analyses' results rows
    (``{analysis id: row}``, as :func:`lead_fields` fills them), in the section's order.
    An analysis with no row (not built) is listed with that reason."""
    out: list[OverviewRow] = []
    for group in spec.groups:
        for item in group.rows:
            r = rows_by_id.get(item.analysis)
            if r is None:
                out.append(OverviewRow(group.outcome, item.exposure, item.analysis,
                                       item.analysis, "", 0, reason="not built"))
                continue
            base = dict(outcome=group.outcome, exposure=item.exposure, analysis_id=r["id"],
                        title=r["title"], measure=r["measure"])
            if r.get("estimate") is None:
                out.append(OverviewRow(**base, k=0, reason=r.get("no_estimate")
                                       or r.get("note") or "no estimate"))
                continue
            key = r.get("lead_key") or ""
            out.append(OverviewRow(
                **base, k=r["k"], participants=r.get("participants"),
                participants_complete=r.get("participants_complete", True),
                estimate=r["estimate"], ci_lb=r["ci_lb"], ci_ub=r["ci_ub"],
                interval=r.get("lead_interval") or "CI", level=r.get("level") or 0.95,
                i2=r.get("i2"), tau=math.sqrt(r["tau2"]) if r.get("tau2") is not None else None,
                method=SHORT_METHOD.get(key, key),
                method_detail=r.get("lead_method") or "", printed=bool(r.get("lead_printed"))))
    return out


def overview_files(rows: list[OverviewRow], title: str, stem: str = "overview"
                   ) -> dict[str, bytes]:
    """overview.png, .svg and .pdf."""
    from ..drawing import figure_bytes
    from .overview_figure import overview_figure

    fig = overview_figure(rows, title)
    return {f"{stem}.{fmt}": figure_bytes(fig, fmt) for fmt in ("png", "svg", "pdf")}


# --- tables --------------------------------------------------------------------------------

TABLE_HEADER = ("outcome", "exposure", "measure", "k (participants)", "estimate [interval]",
                "I², τ", "lead estimate")


def _cells(r: OverviewRow) -> list[str]:
    exposure = r.exposure + (f" {SINGLE_MARK}" if r.single else "")
    est = (f"{r.estimate_text()} {round(r.level * 100):g}% {r.interval}" if r.has_estimate
           else f"no estimate: {r.reason}")
    return [r.outcome, exposure, r.measure_label, r.k_text(), est, r.heterogeneity_text(),
            r.method_detail or "—"]


def footnote(rows: list[OverviewRow]) -> str:
    return (f"{SINGLE_MARK} single study: its own estimate (as reported where it printed one), "
            f"nothing pooled. CrI: Bayesian credible interval.") if rows else ""


def overview_markdown(rows: list[OverviewRow], title: str) -> str:
    """The overview as a Markdown table (with a link from each row to its forest plot)."""
    out = [f"## {md(title)}", "", "| " + " | ".join(TABLE_HEADER) + " |",
           "|" + "---|" * len(TABLE_HEADER)]
    for r in rows:
        cells = [md(c) for c in _cells(r)]  # plan text: no raw HTML or Markdown (report.escape)
        cells[1] = f"[{cells[1]}]({r.analysis_id}/forest.png)"
        out.append("| " + " | ".join(cells) + " |")
    out += ["", footnote(rows), ""]
    return "\n".join(out)


def overview_html(rows: list[OverviewRow], title: str, image: str | None = "overview.png") -> str:
    """The overview as an HTML fragment: heading, figure (if given) and table."""
    e = html.escape
    parts = [f"<section id=\"overview\"><h2>{e(title)}</h2>"]
    if image:
        parts.append(f"<p><img class=\"overview\" src=\"{e(image)}\" alt=\"overview: {e(title)}\">"
                     f"<br><a href=\"overview.pdf\">PDF</a> · <a href=\"overview.svg\">SVG</a></p>")
    parts.append("<table class=\"overview\"><thead><tr>"
                 + "".join(f"<th>{e(h)}</th>" for h in TABLE_HEADER) + "</tr></thead><tbody>")
    last = None
    for r in rows:
        cells = _cells(r)
        outcome = e(cells[0]) if r.outcome != last else ""
        last = r.outcome
        cls = " class=\"none\"" if not r.has_estimate else ""
        parts.append(f"<tr{cls}><td>{outcome}</td><td><a href=\"#{e(r.analysis_id)}\">"
                     f"{e(cells[1])}</a></td>" + "".join(f"<td>{e(c)}</td>" for c in cells[2:])
                     + "</tr>")
    parts.append(f"</tbody></table><p class=\"note\">{e(footnote(rows))}</p></section>")
    return "\n".join(parts)


def overview_outputs(plan, rows_by_id: dict[str, dict[str, Any]]
                     ) -> tuple[dict[str, bytes], str, str]:
    """The overview of a plan from its analyses' results rows: (overview.png/.svg/.pdf, the
    Markdown table for results.md, the HTML fragment for index.html); nothing without an
    ``overview:`` section."""
    spec = getattr(plan, "overview", None)
    if spec is None:
        return {}, "", ""
    rows = overview_rows(spec, rows_by_id)
    return (overview_files(rows, spec.title), overview_markdown(rows, spec.title),
            overview_html(rows, spec.title))


def alternatives_markdown(rows: list[dict[str, Any]]) -> str:
    """results.md: for each analysis with labelled alternatives, the lead estimate and each
    alternative side by side (from the results rows); empty when there are none."""
    out = []
    for r in rows:
        alts = r.get("alternatives") or []
        if not alts or r.get("estimate") is None:
            continue
        fmt = (lambda x: f"{100 * x:.1f}%") if r["measure"] in PROPORTION_MEASURES else (
            lambda x: f"{x:.2f}")
        level = round(100 * (r.get("level") or 0.95))
        out.append(f"- **{md(r['title'])}** — lead: {md(r.get('lead_method'))}: {fmt(r['estimate'])} "
                   f"[{fmt(r['ci_lb'])}, {fmt(r['ci_ub'])}]")
        for a in alts:
            if a.get("estimate") is None:
                continue
            out.append(f"  - {md(a['label'])}: {fmt(a['estimate'])} [{fmt(a['ci_lb'])}, "
                       f"{fmt(a['ci_ub'])}] ({round(100 * (a.get('level') or level))}% "
                       f"{a.get('interval') or 'CI'})")
    if not out:
        return ""
    return "\n".join(["", "## Lead estimates and their alternatives", "",
                      "With 2–4 studies (and where the plan shows more than one model) every "
                      "estimate is given; the rule that picks the lead is in docs/methods.md.",
                      ""] + out) + "\n"
