"""The review-wide appraisal of `carsynth build`: every comparison's appraisal, the SoF
tables, their files and the index-page section, from the plan and the validated studies.

Re-fits each comparison with its studies (cheap: no forest plots), so the SoF and
appraisal.md are complete even when an incremental build skipped analyses.
"""

from __future__ import annotations

from typing import Any

from ..pipeline import fit_analysis
from ..select import select, study_label
from .assess import sof_tables
from .outputs import html_section, review_files


def review_appraisal(plan: Any, studies: list[tuple[Any, str]]) -> tuple[dict[str, bytes], str]:
    """({relative path: bytes}, index.html section) for the whole review."""
    by_id = {s.id: s for s, _ in studies}
    fits, appraisals = {}, {}
    for a in plan.analyses:
        if a.select.kind == "proportion":
            continue
        fit = fit_analysis(a, select(a, studies), by_id)
        fits[a.id], appraisals[a.id] = fit, fit.appraisal
    tables = sof_tables(plan, fits, appraisals, by_id)
    titles = {a.id: a.title for a in plan.analyses}
    labelled = [(study_label(s), s) for s, _ in studies]
    files = review_files(labelled, appraisals.values(), tables, titles, plan.title)
    section = html_section(tables, appraisals.values(), titles, {a: a for a in appraisals})
    return files, section
