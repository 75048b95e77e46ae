"""The review plan (`review.yaml`): which questions the review asks and how to pool them.

An analysis never lists numbers: it *selects* outcome records from the study
files by vocabulary (kind, outcome or outcome family, exposure, measure,
timepoint), so a new study file that reports a matching outcome joins every
relevant analysis without an edit here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, ValidationError,
                      field_validator, model_validator)

from extract.schema import COMPARATOR_KINDS, EXPOSURES, GRADING_SCALES, INTENTS, OUTCOME_FAMILIES, OUTCOMES
from extract.validate import Message, dotted, explain, strip_tags
from extract.yamlio import YamlInputError, load_file

from .appraisal.plan_models import AnalysisAppraisal, SofTable, plan_problems
from .constants import ALL_METHODS, DEFAULTS, PI_TYPES
from .errors import CarsynthError
from .overview_spec import OverviewSpec
from .priors import TauPriorSpec

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)]
OutcomeName = Literal[tuple(OUTCOMES) + tuple(OUTCOME_FAMILIES)]  # type: ignore[valid-type]
ExposureName = Literal[tuple(EXPOSURES)]  # type: ignore[valid-type]
Prefer = Annotated[str, StringConstraints(pattern=r"^(largest|most_recent|[a-z0-9][a-z0-9_]*)$",
                                          max_length=80)]
PLAN_NAME = "review.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Selection(_Model):
    """Which records an analysis takes from each study."""

    kind: Literal["binary", "ratio", "proportion"]
    outcome: list[OutcomeName] = Field(min_length=1, description="outcomes or families (pfs_family)")
    exposure: list[ExposureName] = Field(
        default_factory=list,
        description="in order of preference: a study reporting several contributes the first",
    )
    measure: list[Literal["HR", "OR", "RR"]] = Field(default_factory=list,
                                                   description="ratio records: which measures")
    timepoint: list[str] = Field(default_factory=list,
                                 description="accepted timepoints (case-insensitive); any when empty")
    whole_cohort: bool = Field(True, description="proportions: only whole-cohort records")
    adjusted: Literal["prefer", "avoid", "only", "exclude"] = Field(
        "prefer", description="ratio records: adjusted (multivariable) estimates first, last, only, never"
    )
    list_pvalue_only: bool = Field(
        True, description="kept for old plans: comparisons reported only as p-values are always "
        "listed as not poolable"
    )
    prefer: Prefer = Field(
        "largest", description="overlapping cohorts: keep the largest record (its own events/total "
        "or group sizes), the most_recent report, or the named study")
    grade_scale: list[Literal[tuple(GRADING_SCALES)]] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="CRS/ICANS: accepted grading scales in order of preference; any when empty")
    mix_scales: bool = Field(
        False, description="pool CRS/ICANS records graded on different scales (otherwise one "
        "scale is kept and the others are listed as not pooled)")
    intent: list[Literal[tuple(INTENTS)]] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="accepted intents of the treatment exposure (prophylactic, preemptive, "
        "therapeutic); any when empty")
    comparator: list[Literal[tuple(COMPARATOR_KINDS)]] = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="accepted comparator kinds (concurrent, historical, external_trial); any "
        "when empty")
    strata: Literal["exclude", "combine"] = Field(
        "exclude", description="records about one stratum: listed as not pooled, or combined "
        "when a study's strata of one variable cover the record's whole comparison")


class Model(_Model):
    """Pooling settings of one analysis.

    Defaults are :data:`synthesis.constants.DEFAULTS`, shared with `carsynth pool`
    and the Python API (docs/methods.md, "Defaults").
    """

    method: Literal[ALL_METHODS] = DEFAULTS.method  # type: ignore[valid-type]
    hksj: bool = DEFAULTS.hksj
    hksj_adhoc: bool = DEFAULTS.hksj_adhoc
    pi: Literal[PI_TYPES] = DEFAULTS.pi  # type: ignore[valid-type]
    level: Annotated[float, Field(gt=0, lt=1)] = DEFAULTS.level
    show_common: bool = Field(False, description="also show the common-effect (FE or MH) diamond")
    primary: Literal["auto", "random", "common", "bayes"] = Field(
        "auto", description="which estimate leads (results.csv, overview): auto = the rule in "
        "docs/methods.md (Bayesian for 2-4 studies, else this model)")
    tau_prior: TauPriorSpec | None = Field(
        None, description="prior on tau of the Bayesian fit; default half-normal(0.5) on log "
        "ratios, half-normal(1) on logits")


class Analysis(_Model):
    id: Slug
    title: str = Field(min_length=1)
    section: str = Field("Other", description="heading on the index page")
    question: str | None = None
    select: Selection
    measure: Literal["OR", "RR", "RD", "PR", "PLO", "PAS", "PFT", "HR", "RATIO"]
    model: Model = Field(default_factory=Model)
    subgroup_by: Literal["outcome", "none"] = Field(
        "none", description="outcome: one block per outcome (PFS, EFS, LFS) within a family"
    )
    favours: list[str] = Field(default_factory=list, min_length=0, max_length=2,
                               description="[left label, right label] under the axis")
    appraisal: AnalysisAppraisal = Field(default_factory=AnalysisAppraisal,
                                         description="risk of bias and GRADE (docs/appraisal.md)")

    @model_validator(mode="after")
    def _fits(self):
        kind = self.select.kind
        ok = {
            "binary": ("OR", "RR", "RD"),
            "ratio": ("HR", "RATIO", "OR", "RR"),
            "proportion": ("PR", "PLO", "PAS", "PFT"),
        }[kind]
        if self.measure not in ok:
            raise ValueError(f"measure {self.measure} does not fit {kind} records; use one of "
                             f"{', '.join(ok)}")
        if self.model.method in ("MH", "PETO") and kind != "binary":
            raise ValueError(f"method {self.model.method} needs binary (two-group count) records")
        if self.model.method == "GLMM" and (kind, self.measure) not in (
                ("proportion", "PLO"), ("binary", "OR")):
            raise ValueError("method GLMM needs proportion records with measure PLO or binary "
                             "records with measure OR")
        return self


class ReviewPlan(_Model):
    review_version: Literal[1]
    title: str
    studies: str = "studies"
    sources: str | list[str] | None = Field(
        None, description="folder (or list of folders) with the source documents")
    output: str = "output"
    analyses: list[Analysis] = Field(min_length=1)
    overview: OverviewSpec | None = Field(
        None, description="the overview figure and table: analyses grouped by outcome")
    sof: list[SofTable] = Field(default_factory=list,
                                description="Summary of Findings tables (docs/appraisal.md)")

    @field_validator("overview")
    @classmethod
    def _overview_refs(cls, v, info):
        if v is not None and "analyses" in info.data:
            problems = v.unknown_analyses(a.id for a in info.data["analyses"])
            if problems:
                raise ValueError("; ".join(p.removeprefix("overview.") for p in problems))
        return v

    def source_folders(self, root: Path) -> list[Path]:
        """The sources folders, resolved against the project root."""
        names = [self.sources] if isinstance(self.sources, str) else list(self.sources or [])
        return [(root / n).resolve() for n in names]

    def studies_folder(self, root: Path) -> Path:
        return (root / self.studies).resolve()

    def output_folder(self, root: Path) -> Path:
        return (root / self.output).resolve()


class PlanError(CarsynthError):
    """The review plan does not validate: its messages (file:line: ...), exit 1."""

    prefixed = False

    def __init__(self, messages: list[Message]):
        super().__init__("\n".join(map(str, messages)))
        self.messages = messages


def find_plan(start: Path) -> Path | None:
    """review.yaml in ``start`` or the nearest folder above it; None when there is none."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / PLAN_NAME
        if candidate.is_file():
            return candidate
    return None


def locate_plan(arg: str | None, start: Path | None = None) -> Path:
    """The plan a command uses: ``--plan`` when given, else review.yaml in the current folder
    or the nearest folder above it (so commands work from studies/ or output/ too). When
    there is none, ``review.yaml`` (which the command then reports as missing)."""
    if arg:
        return Path(arg)
    return find_plan(start or Path.cwd()) or Path(PLAN_NAME)


def output_problem(out: Path, root: Path, plan: ReviewPlan, plan_path: Path,
                   relative: bool) -> str | None:
    """Why ``out`` cannot be the output folder, or None when it can.

    It must be a folder inside the project, or an explicit absolute path that is not ``/``,
    the project root, the studies folder, a sources folder, or a folder holding any of them
    (a build replaces its output folder as a whole).
    """
    out = out.resolve()
    root = root.resolve()
    if relative and not out.is_relative_to(root):
        return (f"a relative output must stay inside the project folder {root}; write an "
                f"absolute path to put it elsewhere")
    if out == Path(out.anchor):
        return "the output cannot be the file-system root"
    inputs = [("the project folder", root), ("the studies folder", plan.studies_folder(root)),
              ("the plan", plan_path.resolve())]
    inputs += [("a sources folder", f) for f in plan.source_folders(root)]
    for what, p in inputs:
        if out == p or out.is_relative_to(p) and what != "the project folder":
            return f"the output cannot be {what} ({p}) or inside it"
        if p.is_relative_to(out):
            return f"the output cannot hold {what} ({p}): a build replaces its output folder"
    if out.exists() and not out.is_dir():
        return f"{out} exists and is not a folder"
    return None


def _check_locations(plan: ReviewPlan, path: Path, located, display: str) -> list[Message]:
    root = path.parent.resolve()
    msgs = []

    def err(field: tuple, text: str) -> None:
        line, col = located.where(field)
        msgs.append(Message(display, line, col, "error", dotted(field, located.data), text))

    if not plan.output.strip():
        err(("output",), "output must name a folder, e.g. output")
    else:
        problem = output_problem(root / plan.output, root, plan, path,
                                 relative=not Path(plan.output).is_absolute())
        if problem:
            err(("output",), problem)
    studies = plan.studies_folder(root)
    if not studies.is_dir():
        err(("studies",), f"the studies folder {studies} does not exist")
    elif not any(p.suffix in (".yaml", ".yml") for p in studies.iterdir()):
        err(("studies",), f"the studies folder {studies} holds no study files (*.yaml)")
    # a missing sources folder is not an error: the build runs and says the quotes were
    # not verified (a fresh clone without the papers)
    return msgs


def load_plan(path: Path, check_paths: bool = True) -> ReviewPlan:
    """Read and validate review.yaml; raise PlanError with file:line:col messages.

    ``check_paths`` also checks the studies, sources and output folders it names.
    """
    display = str(path)
    try:
        located = load_file(path, what="plan")
    except YamlInputError as exc:
        raise PlanError([Message(display, exc.line, exc.col, "error", "", exc.message)]) from None
    try:
        plan = ReviewPlan.model_validate(located.data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors(include_url=False)[:200]:
            p = strip_tags(err["loc"], located.data)
            at_key = located.key_positions.get(p) if err["type"] == "extra_forbidden" else None
            line, col = at_key or located.where(p)
            msgs.append(Message(display, line, col, "error", dotted(p, located.data), explain(err)))
        raise PlanError(sorted(msgs, key=lambda m: (m.line, m.col))) from None
    msgs = []
    seen: dict[str, int] = {}
    for i, a in enumerate(plan.analyses):
        if a.id in seen:
            line, col = located.where(("analyses", i, "id"))
            msgs.append(Message(display, line, col, "error", dotted(("analyses", i, "id"),
                                located.data), f"analysis id '{a.id}' is used twice (also "
                                f"analyses[{seen[a.id]}])"))
        seen.setdefault(a.id, i)
    for p, text in plan_problems(plan):  # appraisal cross-references (rob_tool, sof rows)
        line, col = located.where(p)
        msgs.append(Message(display, line, col, "error", dotted(p, located.data), text))
    if check_paths:
        msgs += _check_locations(plan, path, located, display)
    if msgs:
        raise PlanError(sorted(msgs, key=lambda m: (m.line, m.col)))
    return plan
