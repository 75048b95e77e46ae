"""`carsynth build`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import BuildError
from .build_report import BuildFeedback
from ..plan import PlanError, load_plan, locate_plan, output_problem


def run(args) -> int:
    from ..build import build

    plan_path = locate_plan(args.plan)
    if not plan_path.is_file():
        print(f"carsynth build: {plan_path}: no such file (the review plan)", file=sys.stderr)
        return 2
    try:
        if args.output:
            _check_output(plan_path, Path(args.output))
        feedback = BuildFeedback(plan_path, args.sources, strict=args.strict, quiet=args.quiet)
        with feedback:  # progress line (terminal only); warnings kept for after the summary
            report = build(plan_path, Path(args.output) if args.output else None,
                           force=args.force, only=args.only,
                           sources=Path(args.sources) if args.sources else None,
                           jobs=args.jobs, progress=feedback.progress,
                           on_validated=feedback.validated)
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
    feedback.report(report)  # summary, what changed, warnings grouped by study
    for note in report.notes:  # leftovers of killed builds, analyses --only left out
        print(f"carsynth build: warning: {note}", file=sys.stderr)
    return 0


def _check_output(plan_path: Path, output: Path) -> None:
    """--output obeys the plan's rule: never /, the project, studies, sources or the plan."""
    from ..report.outpath import check_path_text

    check_path_text(output)  # a NUL byte: a clear error, before any system call
    plan = load_plan(plan_path)
    problem = output_problem(output, plan_path.resolve().parent, plan, plan_path, relative=False)
    if problem:
        raise BuildError([f"carsynth build: --output {output}: {problem}"])


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="regenerate every analysis, forest plot and result table")
    p.add_argument("--plan", metavar="FILE", help="the review plan (default: review.yaml here or "
                   "in the nearest folder above)")
    p.add_argument("--output", metavar="DIR", help="output folder (default: the plan's, output/)")
    p.add_argument("--sources", metavar="DIR", help="source documents (default: the plan's)")
    p.add_argument("--force", action="store_true", help="rebuild even unchanged analyses")
    p.add_argument("--only", nargs="+", metavar="ID", help="build only these analyses")
    p.add_argument("--jobs", type=int, default=2, help="processes for drawing (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary line")
    p.add_argument("--strict", action="store_true",
                   help="fail (exit 1, nothing written) on any validation warning or "
                        "unverified sources folder, for CI")
    p.set_defaults(own_progress=True)
    p.set_defaults(func=run)
