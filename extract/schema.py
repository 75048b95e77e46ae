"""The extraction format: one YAML file per published study.

The pydantic models here are the single definition of the format. The JSON
Schema that ``carsynth schema`` prints is generated from them, and
``docs/extraction-format.md`` describes them field by field.

Numbers are read from YAML as plain ints and floats; the loader
(:mod:`extract.yamlio`) also keeps each number's text exactly as it was
written ("0.40", "86.96"), which the rounding-aware checks in
:mod:`extract.validate.records` need.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .appraisal import RiskOfBias

SCHEMA_VERSION = 1

from .vocabulary import (  # noqa: F401 - the vocabularies are part of the format
    COMPARATOR_KINDS,
    EXPOSURES,
    GRADING_SCALES,
    INTENTS,
    OUTCOMES,
    OUTCOME_FAMILIES,
    RATIO_MEASURES,
    TOXICITY_GRADES,
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
# a billion patients bounds every count a paper prints, and keeps arithmetic in float range
Count = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
# strict: a quoted "0.45" or a true/false is an error, not silently coerced
Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]
PositiveReal = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
GradingScale = Literal[tuple(GRADING_SCALES)]  # type: ignore[valid-type]
Intent = Literal[tuple(INTENTS)]  # type: ignore[valid-type]

_P_TEXT = re.compile(r"^\s*(<=|>=|<|>|≤|≥|=)?\s*(\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$")


def parse_p(p: float | str) -> tuple[str, float]:
    """Split a reported p-value into (comparator, value): ``"<0.001"`` -> ("<", 0.001)."""
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        return "=", float(p)
    m = _P_TEXT.match(str(p))
    if not m:
        raise ValueError(f"not a p-value: {p!r}")
    op = {"≤": "<=", "≥": ">=", None: "="}.get(m.group(1), m.group(1))
    return op, float(m.group(2))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_p(v: float | str | None) -> float | str | None:
    if v is None:
        return v
    if isinstance(v, bool):
        raise ValueError("a p-value must be a number or text such as '<0.001', not true/false")
    try:
        _, value = parse_p(v)
    except ValueError:
        raise ValueError(
            f"a p-value must be a number in (0, 1] or text such as '<0.001'; found {v!r}"
        ) from None
    op, _ = parse_p(v)
    if value != value or value <= 0 or value > 1 or (op in (">", ">=") and value >= 1):
        raise ValueError(f"a p-value must lie in (0, 1]; found {v!r}")
    return v


PValue = Union[float, str]


# --- building blocks ----------------------------------------------------------


class Quote(_Model):
    """Verbatim text from a source document that contains the numbers it backs."""

    text: NonEmpty = Field(description="verbatim text, as it appears in the source")
    source: str | None = Field(
        None, description="file name of one of the study's sources; any source when omitted"
    )
    page: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        None, description="1-based page number in the source (PDF sources)"
    )
    location: str | None = Field(None, description="table, figure or section, e.g. 'Table 3'")


class Person(_Model):
    name: NonEmpty
    date: _dt.date


class Citation(_Model):
    authors: list[NonEmpty] = Field(
        min_length=1, description="'Surname Initials'; an abstract may end the list with 'et al.'")
    title: NonEmpty
    journal: NonEmpty = Field(description="journal, or the meeting's journal for an abstract")
    publication: Literal["article", "abstract", "preprint", "letter"] = Field(
        "article", description="what was published: a full article, a conference abstract, ...")
    meeting: str | None = Field(None, description="abstracts: the meeting, e.g. 'ASH 2023'")
    year: Annotated[int, Field(strict=True, ge=1900, le=2100)]
    volume: str | None = None
    pages: str | None = None
    doi: Annotated[str, StringConstraints(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    pmid: Annotated[str, StringConstraints(pattern=r"^\d{1,9}$")] | None = None
    pmcid: Annotated[str, StringConstraints(pattern=r"^PMC\d+$")] | None = None


YearMonth = Annotated[
    Union[Annotated[int, Field(strict=True, ge=1900, le=2100)],
          Annotated[str, StringConstraints(pattern=r"^(19|20)\d\d(-(0[1-9]|1[0-2]))?$")]],
    Field(description="YYYY or YYYY-MM"),
]


class Accrual(_Model):
    start: YearMonth | None = None
    end: YearMonth | None = None


class Design(_Model):
    type: Literal["retrospective", "prospective", "mixed"]
    centres: Literal["single", "multi"]
    n_centres: Annotated[int, Field(strict=True, ge=1)] | None = None
    accrual: Accrual | None = None
    follow_up_median_months: Real | None = None
    quotes: list[Quote] = Field(default_factory=list)
    derived: dict[str, NonEmpty] = Field(default_factory=dict)


class Population(_Model):
    age_group: Literal["paediatric", "adult", "mixed"]
    median_age: Real | None = Field(None, description="years")
    age_range: list[Real] | None = Field(None, min_length=2, max_length=2)
    share_children: Percent | None = Field(None, description="percent aged < 18")
    disease_status: NonEmpty = Field(description="e.g. 'relapsed/refractory'")
    car_targets: list[NonEmpty] = Field(min_length=1, description="e.g. [CD19] or [CD19, CD22]")
    car_origin: Literal["autologous", "allogeneic", "donor-derived", "mixed", "not reported"]
    n_enrolled: Count | None = None
    n_infused: Count | None = None
    n_evaluable: Count | None = None
    quotes: list[Quote] = Field(default_factory=list)
    derived: dict[str, NonEmpty] = Field(default_factory=dict)


class Source(_Model):
    file: NonEmpty = Field(
        description="path relative to a sources folder (no absolute paths, no '..')")
    sha256: Sha256
    kind: Literal["pdf", "text", "abstract"] = Field(
        description="pdf, text, or abstract (a text file holding a conference abstract)")
    rendering: str | None = Field(None, description="what this rendering is, e.g. 'PDF text'")


class Extraction(_Model):
    extractor: Person
    verifier: Person | None = None


class Comparator(_Model):
    """Where the comparison group comes from."""

    kind: Literal[tuple(COMPARATOR_KINDS)] = "concurrent"  # type: ignore[valid-type]
    registration: str | None = Field(None, description="external_trial: its registration")
    description: str | None = Field(None, description="e.g. 'patients treated 2016-2018'")


class Grading(_Model):
    """The grading scales a study used for CRS and ICANS."""

    crs: GradingScale | None = None
    icans: GradingScale | None = None
    quotes: list[Quote] = Field(default_factory=list, description="where the paper says so")


class Stratum(_Model):
    """A subset of the cohort by a baseline variable (e.g. high disease burden) with its n."""

    id: Slug
    variable: NonEmpty = Field(description="e.g. 'disease burden'")
    label: NonEmpty = Field(description="e.g. 'high (>= 5% marrow blasts)'")
    n: Count
    definition: str | None = None
    quote: Quote | None = None
    derived: dict[str, NonEmpty] = Field(default_factory=dict)


class Group(_Model):
    id: Slug
    label: NonEmpty
    exposure: Literal[tuple(EXPOSURES)] = "none"  # type: ignore[valid-type]
    exposed: bool = Field(True, description="false for the unexposed comparison group")
    n: Count | None = None
    intent: Intent | None = Field(None, description="exposed treatment groups: why it was given")
    timing: str | None = Field(None, description="when it was given, e.g. 'within 12 h of CRS'")
    comparator: Comparator | None = Field(None, description="unexposed groups: where from")
    definition: str | None = None
    quote: Quote | None = None
    derived: dict[str, NonEmpty] = Field(default_factory=dict)


CountRange = Annotated[list[Count], Field(min_length=2, max_length=2)]


class Arm(_Model):
    group: Slug
    events: Count
    total: Count
    percent: Percent | None = Field(None, description="the percentage as printed, if any")
    events_range: CountRange | None = Field(
        None, description="events derived from a rounded percent: every count it allows")


class Overlap(_Model):
    study: Slug
    reason: NonEmpty


class Discrepancy(_Model):
    description: NonEmpty
    field: str | None = Field(None, description="dotted path of the affected value")
    quotes: list[Quote] = Field(min_length=2)
    resolution: str | None = Field(None, description="which value the extraction uses and why")


class _RecordBase(_Model):
    id: Slug
    outcome: Literal[tuple(OUTCOMES)]  # type: ignore[valid-type]
    outcome_definition: str | None = Field(None, description="the study's own definition")
    timepoint: str | None = Field(None, description="e.g. 'day 30', '1 year'")
    population: str | None = Field(None, description="who the record is about, if a subset")
    stratum: Slug | None = Field(None, description="id of the stratum the record is about")
    grading_scale: GradingScale | None = Field(
        None, description="CRS/ICANS records: the scale, when it differs from the study's grading")
    intent: Intent | None = Field(None, description="treatment exposures: why it was given")
    timing: str | None = Field(None, description="treatment exposures: when it was given")
    quotes: list[Quote] = Field(min_length=1)
    derived: dict[str, NonEmpty] = Field(
        default_factory=dict,
        description="field -> how it was derived, for numbers not printed in any quote",
    )
    review: Literal["pending", "accepted"] = Field(
        "accepted",
        description="'pending' for a drafted record nobody has checked yet: validate lists it "
        "and analyses do not pool it (reason 'pending review') until it is 'accepted'",
    )
    notes: str | None = None


class BinaryRecord(_RecordBase):
    """(a) events/total in an exposed and a reference group."""

    kind: Literal["binary"]
    exposure: Literal[tuple(EXPOSURES)]  # type: ignore[valid-type]
    exposure_label: str | None = None
    exposed: Arm
    reference: Arm
    comparator: Comparator | None = None
    p: PValue | None = None
    test: str | None = None

    @field_validator("p", mode="before")
    @classmethod
    def _valid_p(cls, v):
        return _check_p(v)


class ProportionRecord(_RecordBase):
    """(b) events/total in one group (or the whole cohort)."""

    kind: Literal["proportion"]
    group: Slug | None = Field(None, description="group id; the whole cohort when omitted")
    events: Count
    total: Count
    percent: Percent | None = None
    events_range: CountRange | None = Field(
        None, description="events derived from a rounded percent: every count it allows")


class RatioRecord(_RecordBase):
    """(c) a hazard, odds or risk ratio with its confidence interval."""

    kind: Literal["ratio"]
    measure: Literal[RATIO_MEASURES]  # type: ignore[valid-type]
    exposure: Literal[tuple(EXPOSURES)]  # type: ignore[valid-type]
    exposure_label: str | None = Field(None, description="required when exposure is 'other'")
    exposed: NonEmpty = Field(description="the exposed level or group id")
    reference: NonEmpty = Field(description="the reference level or group id")
    comparator: Comparator | None = None
    estimate: PositiveReal
    ci_lower: PositiveReal | None = None
    ci_upper: PositiveReal | None = None
    ci_level: Annotated[float, Field(strict=True, gt=0, lt=1)] = 0.95
    p: PValue | None = None
    adjusted: bool
    analysis: Literal["univariable", "multivariable"]
    model: str | None = Field(None, description="e.g. 'Cox proportional hazards'")
    covariates: list[str] = Field(default_factory=list)
    events: Count | None = Field(None, description="number of events, if reported")

    @field_validator("p", mode="before")
    @classmethod
    def _valid_p(cls, v):
        return _check_p(v)


class PValueRecord(_RecordBase):
    """(d) a comparison reported only as a p-value (kept for narrative synthesis)."""

    kind: Literal["pvalue"]
    exposure: Literal[tuple(EXPOSURES)]  # type: ignore[valid-type]
    exposure_label: str | None = None
    comparison: NonEmpty = Field(description="e.g. 'TCZ vs no TCZ'")
    comparator: Comparator | None = None
    p: PValue
    test: str | None = Field(None, description="e.g. 'log-rank', 'chi-square'")
    direction: Literal["favours_exposed", "favours_reference", "none", "not_reported"] = (
        "not_reported"
    )
    groups: list[Slug] = Field(default_factory=list)

    @field_validator("p", mode="before")
    @classmethod
    def _valid_p(cls, v):
        return _check_p(v)


class SurvivalRateRecord(_RecordBase):
    """(e) a time-point survival rate, e.g. 1-year OS 80.7% ± 7.7%."""

    kind: Literal["survival_rate"]
    group: Slug | None = None
    rate: Percent
    se: Percent | None = Field(None, description="the ± value, in percentage points")
    ci_lower: Percent | None = None
    ci_upper: Percent | None = None


Record = Annotated[
    Union[BinaryRecord, ProportionRecord, RatioRecord, PValueRecord, SurvivalRateRecord],
    Field(discriminator="kind"),
]


class Study(_Model):
    """One published study: citation, design, population, sources, groups and outcome records."""

    schema_version: Literal[1]
    id: Slug
    citation: Citation
    registrations: list[NonEmpty] = Field(default_factory=list)
    design: Design
    population: Population
    grading: Grading | None = Field(None, description="CRS/ICANS grading scales used")
    sources: list[Source] = Field(min_length=1)
    extraction: Extraction
    groups: list[Group] = Field(default_factory=list)
    strata: list[Stratum] = Field(default_factory=list)
    records: list[Record] = Field(default_factory=list)
    discrepancies: list[Discrepancy] = Field(default_factory=list)
    overlaps: list[Overlap] = Field(default_factory=list)
    risk_of_bias: list[RiskOfBias] | None = Field(
        None, description="risk-of-bias assessments (ROBINS-I, ROBINS-E, RoB 2); docs/appraisal.md")
    notes: str | None = None


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) for a study file, for editors and other tools."""
    schema = Study.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "carsynth study extraction"
    return schema


def all_field_names() -> set[str]:
    """Every field name used anywhere in the format (for did-you-mean suggestions)."""
    names: set[str] = set()
    for model in (Quote, Person, Citation, Accrual, Design, Population, Source, Extraction,
                  Group, Arm, Overlap, Discrepancy, BinaryRecord, ProportionRecord,
                  RatioRecord, PValueRecord, SurvivalRateRecord, Study, Comparator, Grading,
                  Stratum):
        names.update(model.model_fields)
    return names
