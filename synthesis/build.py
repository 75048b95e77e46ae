"""`carsynth build`: every analysis, forest plot and result table from the studies and the plan.

Data flows one way: review.yaml + studies/*.yaml -> validated records ->
selected contributions (synthesis.select) -> fits (synthesis.pipeline) ->
tables and plots (synthesis.report, synthesis.plots). Everything is rendered
in memory first and written only when the whole build succeeded, each file
atomically; unchanged files are not rewritten. An analysis whose inputs (plan
entry, selected records with their quotes, tool version) are unchanged is
skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import measures
from .errors import BuildError
from .appraisal.assess import rob_key
from .pipeline import fit_analysis, load_studies
from .plan import Analysis, load_plan
from .report.changes import CONTRIBUTIONS_KEY, ChangeSet, changes_file, contribution_snapshot
from .report.outpath import resolve_output
from .report.staging import OutputLock, recover
from .report.state import analysis_key, commit, intact, read_state, review_key
from .report.workers import run_parallel
from .select import AnalysisData, select

__all__ = ["BuildError", "BuildReport", "build", "render"]


@dataclass
class BuildReport:
    built: list[str]
    skipped: list[str]
    written: list[str]
    unchanged: list[str]
    output: Path
    changes: ChangeSet | None = None  # what changed since the previous build (CHANGES.md)
    notes: list[str] = field(default_factory=list)  # leftovers, outputs not rebuilt (--only)


def render(a: Analysis, data: AnalysisData, studies: dict[str, Any] | None = None
           ) -> tuple[dict[str, bytes], dict[str, Any], dict[str, Any]]:
    """All files of one analysis, in memory: {relative path: bytes}, its results row and
    its heterogeneity section."""
    import numpy as np

    from .plots import forest_figure, funnel_figure, save_figure
    from .report.forest_layout import forest_spec
    from .report.hetreport import analyse
    from .report.bayesplot import bayes_files
    from .report.overview import lead_fields
    from .report.writers import analysis_json, json_bytes, result_row

    fit = fit_analysis(a, data, studies)
    files: dict[str, bytes] = {}
    fig = forest_figure(forest_spec(fit))
    buffers: dict[str, bytes] = {}
    save_figure(fig, f"{a.id}/forest", writer=lambda p, b: buffers.__setitem__(p, b))
    files.update(buffers)
    main = fit.main
    info = analysis_json(fit)
    if fit.appraisal is not None:  # risk-of-bias plots and the appraisal (issue 15)
        from .appraisal.outputs import analysis_plot_files

        files.update(analysis_plot_files(fit.appraisal, a.title, a.id))
        info["appraisal"] = fit.appraisal.to_dict()
    if main is not None and main.k >= 10:
        ok = np.isfinite(main.yi)
        ffig = funnel_figure(main.yi[ok], np.sqrt(main.vi[ok]), main.estimate, a.title,
                             measures.get(a.measure).ratio)
        buffers = {}
        save_figure(ffig, f"{a.id}/funnel", formats=("png",),  # a diagnostic: PNG only
                    writer=lambda p, b: buffers.__setitem__(p, b))
        files.update(buffers)
        info["funnel"] = "funnel.png"
    else:
        k = main.k if main is not None else 0
        info["funnel"] = None
        info["funnel_note"] = (f"no funnel plot: k = {k} < 10 studies, too few to judge "
                               f"small-study effects (Cochrane Handbook §13.3.5.4)")
    files[f"{a.id}/result.json"] = (json.dumps(info, indent=2, ensure_ascii=False,
                                               allow_nan=False) + "\n").encode()
    from .report.reproduce import reproduce_r

    files[f"{a.id}/reproduce.R"] = reproduce_r(fit).encode()  # the same numbers from metafor
    het = analyse(fit, studies or {})
    files.update(het.files)
    files[f"{a.id}/heterogeneity.json"] = json_bytes(het.data)
    files.update(bayes_files(fit))  # the Bayesian fit behind a small-k lead
    row = result_row(fit) | lead_fields(fit, studies or {})  # the lead estimate (smallk)
    return files, row, {"title": a.title, "data": het.data}


def _render_job(args):
    a, data, studies = args
    return render(a, data, studies)


def build(plan_path: Path, output: Path | None = None, force: bool = False,
          only: list[str] | None = None, sources: Path | None = None, jobs: int = 2,
          progress: Callable[[int, int, str], None] | None = None,
          on_validated: Callable[[Any], None] | None = None) -> BuildReport:
    """Build the review. ``progress(done, total, analysis id)`` is called as analyses are
    rendered; ``on_validated(report)`` gets the study files' validation report (warnings
    included) before anything is rendered, and may raise BuildError to stop the build."""
    plan = load_plan(plan_path)
    root = plan_path.resolve().parent
    out_dir = resolve_output(output or (root / plan.output),
                             inputs=(plan_path, root / plan.studies))
    with OutputLock(out_dir, "build"):  # one writer per output folder (report.staging)
        notes = recover(out_dir)
        report = _build(plan, root, out_dir, force, only, sources, jobs, progress, on_validated)
    report.notes[:0] = notes
    return report


def _build(plan, root: Path, out_dir: Path, force, only, sources, jobs, progress,
           on_validated) -> BuildReport:
    if only:
        known = {a.id for a in plan.analyses}
        unknown = [x for x in only if x not in known]
        if unknown:
            raise BuildError([f"unknown analysis '{u}'; analyses are: {', '.join(sorted(known))}"
                              for u in unknown])
    studies, validation = load_studies(plan, root, sources)
    if on_validated is not None:
        on_validated(validation)
    state = read_state(out_dir)
    entries = state.get("analyses", {})
    todo: list[tuple[Analysis, AnalysisData, str]] = []
    rows: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for a in plan.analyses:
        data = select(a, studies)
        key = analysis_key(a, data, rob_key(data, studies))
        prev = entries.get(a.id)
        selected = not only or a.id in only
        outputs_ok = prev is not None and intact(out_dir, prev)  # present, with their hashes
        if prev and prev.get("key") == key and outputs_ok and not (force and selected):
            rows[a.id] = prev["row"]
            if selected:  # --only counts only the analyses asked for
                skipped.append(a.id)
            continue
        if not selected:  # --only: other analyses keep whatever they had
            if prev is not None:
                rows[a.id] = prev["row"]
            continue
        todo.append((a, data, key))

    review = review_key(plan.model_dump(mode="json"),
                        [s.model_dump(mode="json") for s, _ in studies])
    if (not todo and not only and state.get("review_key") == review
            and intact(out_dir, {"files": state.get("files")})):
        # nothing changed and every file is as written: the review-wide outputs (SoF
        # refits, overview figure) would come out byte-identical, so they are not redone
        order = [a.id for a in plan.analyses]
        old = out_dir / "CHANGES.md"
        changes, _ = changes_file(entries, entries, order, plan.title,
                                  old.read_bytes() if old.is_file() else None)
        unchanged = set(state["files"]).union(*(entries[i]["files"] for i in order))
        return BuildReport(built=[], skipped=skipped, written=[], unchanged=sorted(unchanged),
                           output=out_dir, changes=changes)

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
            if progress is not None:
                progress(n, len(todo), a.id)
    for a_id, (files, row, key) in rendered.items():
        rows[a_id] = row
    ordered = [rows[a.id] for a in plan.analyses if a.id in rows]
    all_files: dict[str, bytes] = {}
    for files, _, _ in rendered.values():
        all_files.update(files)
    from .report.hetreport import markdown as het_markdown
    from .report.html import index_html
    from .report.writers import json_bytes, results_csv, results_md

    all_files["results.csv"] = results_csv(ordered)
    from .appraisal.review import review_appraisal

    rob_files, rob_html = review_appraisal(plan, studies)  # SoF, appraisal.md, review rob plots
    all_files.update(rob_files)
    from .report.overview import overview_outputs

    ov_files, ov_md, ov_html = overview_outputs(plan, rows)  # the plan's overview: first
    all_files.update(ov_files)
    all_files["results.md"] = (results_md(plan, ordered, ov_md) + b"\n"
                               + rob_files.get("sof.md", b""))
    het_data = {i: (hets.get(i) or entries.get(i, {}).get("het") or {}).get("data") for i in rows}
    out_files = {i: sorted(rendered[i][0]) if i in rendered else entries.get(i, {}).get("files", [])
                 for i in rows}
    all_files["index.html"] = index_html(plan, ordered, rob_html, hets=het_data, files=out_files,
                                         overview=ov_html)
    het_sections = []
    for a in plan.analyses:
        if a.id in hets:
            het_sections.append(hets[a.id])
        elif a.id in entries and "het" in entries[a.id]:
            het_sections.append(entries[a.id]["het"])
    all_files["heterogeneity.md"] = het_markdown(het_sections, plan.title).encode()
    all_files["heterogeneity.json"] = json_bytes(
        {"title": plan.title, "analyses": {a.id: h["data"] for a, h in
                                           zip([x for x in plan.analyses if x.id in hets or
                                                "het" in entries.get(x.id, {})], het_sections)}})
    new_entries = {a.id: entries[a.id] for a in plan.analyses if a.id in entries and a.id not in rendered}
    selected_data = {a.id: d for a, d, _ in todo}
    for a_id, (files, row, key) in rendered.items():
        new_entries[a_id] = {"key": key, "row": row, "files": sorted(files), "het": hets[a_id],
                             CONTRIBUTIONS_KEY: contribution_snapshot(
                                 selected_data[a_id].contributions)}
    old_changes = out_dir / "CHANGES.md"
    changes, all_files["CHANGES.md"] = changes_file(
        entries, new_entries, [a.id for a in plan.analyses], plan.title,
        old_changes.read_bytes() if old_changes.is_file() else None)
    # commit: the whole new output folder swapped in at once (report.state, report.staging)
    result = commit(out_dir, all_files, new_entries, set(rendered), [a.id for a in plan.analyses],
                    review)
    return BuildReport(built=list(rendered), skipped=skipped, written=result.written,
                       unchanged=result.unchanged, output=out_dir, changes=changes,
                       notes=result.warnings)


def _run_jobs(jobs_args, jobs: int):
    return run_parallel(_render_job, jobs_args, jobs,  # workers die with the build
                        cost=lambda args: len(args[1].contributions))  # largest first
