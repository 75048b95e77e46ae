"""`carsynth heterogeneity`: do cohorts disagree, and why?"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import UsageError
from ..plan import load_plan, locate_plan
from ..moderators import MODERATORS


def run(args) -> int:
    from ..pipeline import fit_analysis, load_studies
    from ..report.hetreport import HetOptions, analyse, markdown
    from ..report.outpath import resolve_output
    from ..report.staging import OutputLock, recover
    from ..report.state import commit_run, run_folder
    from ..report.writers import json_bytes
    from ..select import select

    plan_path = locate_plan(args.plan)
    if not plan_path.is_file():
        raise UsageError(f"{plan_path}: no such file (the review plan)")
    plan = load_plan(plan_path)  # PlanError, BuildError, HetInputError: reported by cli.main
    known = [a.id for a in plan.analyses]
    unknown = [x for x in (args.analyses or []) if x not in known]
    if unknown:
        raise UsageError(f"unknown analysis {', '.join(repr(u) for u in unknown)}; "
                         f"analyses are: {', '.join(known)}")
    bad_mods = [m for m in (args.moderator or []) if m not in MODERATORS]
    if bad_mods:
        raise UsageError(f"unknown moderator {', '.join(repr(m) for m in bad_mods)}; "
                         f"moderators are: {', '.join(MODERATORS)}")
    root = plan_path.resolve().parent
    studies, _ = load_studies(plan, root, Path(args.sources) if args.sources else None)
    by_id = {s.id: s for s, _ in studies}
    options = HetOptions(moderators=tuple(args.moderator) if args.moderator else None,
                         common_tau2=args.common_tau2, allow_missing=args.allow_missing,
                         tau_prior_scale=args.tau_prior)
    out_dir = resolve_output(Path(args.output) if args.output else root / plan.output,
                             inputs=(plan_path, root / plan.studies))
    chosen = [a for a in plan.analyses if not args.analyses or a.id in args.analyses]
    sections, files = [], {}
    for a in chosen:
        data = select(a, studies)
        sec = analyse(fit_analysis(a, data), by_id, options)
        sections.append({"title": a.title, "data": sec.data})
        files.update(sec.files)
        files[f"{a.id}/heterogeneity.json"] = json_bytes(sec.data)
    report = markdown(sections, plan.title)
    print(report if not args.json else json.dumps(
        {a.id: s["data"] for a, s in zip(chosen, sections)}, indent=2, ensure_ascii=False))
    files["heterogeneity.md"] = report.encode()
    files["heterogeneity.json"] = json_bytes(
        {"title": plan.title, "analyses": {a.id: s["data"] for a, s in zip(chosen, sections)}})
    # a run folder of its own, which `carsynth build` carries over and never overwrites;
    # written whole, under the output folder's lock (report.state, report.staging)
    folder = run_folder(_run_name(args))
    with OutputLock(out_dir, "heterogeneity"):
        notes = recover(out_dir) + commit_run(out_dir, folder, files)
    for note in notes:
        print(f"carsynth heterogeneity: warning: {note}", file=sys.stderr)
    print(f"carsynth heterogeneity: {len(files)} file{'' if len(files) == 1 else 's'} written "
          f"under {out_dir / folder}", file=sys.stderr)
    return 0


def _run_name(args) -> str:
    """The run's folder name from its analyses and options (e.g. all--moderator-age_group)."""
    import hashlib

    parts = list(args.analyses or ["all"]) + [f"moderator-{m}" for m in args.moderator or []]
    parts += ["common-tau2"] * bool(args.common_tau2) + ["allow-missing"] * bool(args.allow_missing)
    if args.tau_prior is not None:
        parts.append(f"tau-prior-{args.tau_prior:g}")
    name = "--".join(parts)
    if len(name) > 100:
        name = name[:80] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def add_parser(sub) -> None:
    p = sub.add_parser("heterogeneity", help="check heterogeneity across cohorts")
    p.add_argument("analyses", nargs="*", metavar="ANALYSIS", help="analysis ids (default: all)")
    p.add_argument("--plan", metavar="FILE", help="the review plan (default: review.yaml here or "
                   "in the nearest folder above)")
    p.add_argument("--output", metavar="DIR", help="output folder (default: the plan's output:)")
    p.add_argument("--sources", metavar="DIR",
                   help="folder of source documents (default: the plan's sources:)")
    p.add_argument("--moderator", action="append", metavar="NAME",
                   help=f"subgroup/meta-regression moderator (repeatable): {', '.join(MODERATORS)}")
    p.add_argument("--common-tau2", action="store_true",
                   help="subgroups share one τ² (default: a separate τ² per subgroup)")
    p.add_argument("--allow-missing", action="store_true",
                   help="run a moderator on the studies that report it")
    p.add_argument("--tau-prior", type=float, metavar="SCALE",
                   help="half-normal prior scale for τ (default 0.5 for log ratios, 1 for logits; "
                        "other measures need it)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the report")
    p.set_defaults(func=run)
