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

from extract.schema import EXPOSURES, OUTCOME_FAMILIES, OUTCOMES
from extract.validate import Message, dotted, explain, strip_tags
from extract.yamlio import YamlInputError, load_file

from .appraisal.plan_models import AnalysisAppraisal, SofTable
from .constants import ALL_METHODS, DEFAULTS, PI_TYPES
from .overview_spec import OverviewSpec
from .priors import TauPriorSpec

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)]
OutcomeName = Literal[tuple(OUTCOMES) + tuple(OUTCOME_FAMILIES)]  # type: ignore[valid-type]
ExposureName = Literal[tuple(EXPOSURES)]  # type: ignore[valid-type]


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
        True, description="list matching comparisons reported only as p-values as not poolable"
    )


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
        return self


class ReviewPlan(_Model):
    review_version: Literal[1]
    title: str
    studies: str = "studies"
    sources: str | None = Field(None, description="folder with the source documents")
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

    @model_validator(mode="after")
    def _unique(self):
        seen: set[str] = set()
        for a in self.analyses:
            if a.id in seen:
                raise ValueError(f"analysis id '{a.id}' is used twice")
            seen.add(a.id)
        return self


class PlanError(Exception):
    def __init__(self, messages: list[Message]):
        super().__init__("\n".join(map(str, messages)))
        self.messages = messages


def load_plan(path: Path) -> ReviewPlan:
    """Read and validate review.yaml; raise PlanError with file:line:col messages."""
    display = str(path)
    try:
        located = load_file(path)
    except YamlInputError as exc:
        raise PlanError([Message(display, exc.line, exc.col, "error", "", exc.message)]) from None
    try:
        return ReviewPlan.model_validate(located.data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            p = strip_tags(err["loc"], located.data)
            line, col = located.where(p)
            msgs.append(Message(display, line, col, "error", dotted(p, located.data), explain(err)))
        raise PlanError(msgs) from None
