"""The appraisal parts of the review plan: per-analysis `appraisal:` and the top-level `sof:`.

`synthesis.plan` holds one field of each type; the models live here so the
appraisal package owns its format (documented in docs/appraisal.md).
"""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .grade import Declared, Override, Thresholds

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)]
Share = Annotated[float, Field(gt=0, le=1)]
PositiveRatio = Annotated[float, Field(gt=0)]

DOWN = {"not serious": 0, "serious": 1, "very serious": 2}
UP = {"none": 0, "large": 1, "very large": 2}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanThresholds(_Model):
    """Decision thresholds for GRADE; the defaults are GRADE's conventional ones."""

    benefit: PositiveRatio | None = Field(
        None, description="ratio beyond which the effect is an important benefit (e.g. 0.8)")
    harm: PositiveRatio | None = Field(
        None, description="ratio beyond which the effect is an important harm (e.g. 1.25)")
    rob_share: Share = Field(0.5, description="weight share at serious/critical risk that "
                                              "downgrades risk of bias")
    i2_serious: Annotated[float, Field(ge=0, le=100)] = 50.0
    i2_very_serious: Annotated[float, Field(ge=0, le=100)] = 75.0
    tau_max: Annotated[float, Field(gt=0)] | None = Field(
        None, description="τ (log-ratio scale) above which inconsistency is serious")
    ois_rrr: Share = Field(0.25, description="relative risk reduction for the optimal "
                                             "information size")
    large: Annotated[float, Field(gt=1)] = 2.0
    very_large: Annotated[float, Field(gt=1)] = 5.0

    @model_validator(mode="after")
    def _ordered(self):
        if self.benefit is not None and self.harm is not None and not self.benefit < 1 < self.harm:
            raise ValueError(f"thresholds need benefit < 1 < harm (ratios); found benefit "
                             f"{self.benefit}, harm {self.harm}")
        if self.i2_serious > self.i2_very_serious:
            raise ValueError("i2_serious must not exceed i2_very_serious")
        if self.large >= self.very_large:
            raise ValueError("large must be below very_large")
        return self

    def to_thresholds(self) -> Thresholds:
        return Thresholds(benefit=self.benefit, harm=self.harm, rob_share=self.rob_share,
                          i2_serious=self.i2_serious, i2_very_serious=self.i2_very_serious,
                          tau_max=self.tau_max, ois_rrr=self.ois_rrr, large=self.large,
                          very_large=self.very_large)


class Indirectness(_Model):
    aspect: Literal["population", "intervention", "comparator", "outcome"]
    level: Literal["serious", "very serious"]
    reason: NonEmpty

    def to_declared(self) -> Declared:
        return Declared(self.aspect, DOWN[self.level], self.reason)


class DownOverride(_Model):
    level: Literal["not serious", "serious", "very serious"]
    justification: NonEmpty = Field(description="required: why the rule's suggestion is wrong")


class UpOverride(_Model):
    level: Literal["none", "large", "very large"]
    justification: NonEmpty


class GradeOverrides(_Model):
    risk_of_bias: DownOverride | None = None
    inconsistency: DownOverride | None = None
    indirectness: DownOverride | None = None
    imprecision: DownOverride | None = None
    publication_bias: DownOverride | None = None
    large_effect: UpOverride | None = None

    def to_overrides(self) -> dict[str, Override]:
        out: dict[str, Override] = {}
        for name in type(self).model_fields:
            o = getattr(self, name)
            if o is not None:
                words = UP if name == "large_effect" else DOWN
                out[name] = Override(words[o.level], o.justification)
        return out


class AnalysisAppraisal(_Model):
    """`appraisal:` of one analysis in review.yaml."""

    rob_tool: Literal["robins_i", "robins_e", "rob2"] | None = Field(
        None, description="the tool the studies are assessed with; by default ROBINS-I for "
                          "interventions and ROBINS-E for other exposures")
    thresholds: PlanThresholds = Field(default_factory=PlanThresholds)
    indirectness: list[Indirectness] = Field(default_factory=list)
    grade_overrides: GradeOverrides = Field(default_factory=GradeOverrides)
    rob_column: bool = Field(False, description="add a risk-of-bias column to the forest plot")


class AssumedRisk(_Model):
    value: Annotated[float, Field(gt=0, lt=1)] = Field(
        description="risk in the comparator group (proportion of patients with the event)")
    source: NonEmpty = Field(description="where the value comes from")


class SofRow(_Model):
    analysis: Slug
    outcome: NonEmpty = Field(description="the outcome as the table names it, with follow-up")
    event: NonEmpty | None = Field(
        None, description="what the risk counts, for the plain-language statement "
                          "(e.g. 'progression, relapse or death')")
    assumed_risk: AssumedRisk | None = Field(
        None, description="comparator risk for absolute effects; default: the pooled "
                          "comparator arm (binary outcomes)")


class SofTable(_Model):
    """One Summary of Findings table: one comparison, one row per outcome."""

    id: Slug
    title: NonEmpty
    intervention: NonEmpty = Field(description="short name used in statements, e.g. 'GC'")
    comparison: NonEmpty
    population: NonEmpty
    setting: NonEmpty | None = None
    rows: list[SofRow] = Field(min_length=1)


def plan_problems(plan) -> list[tuple[tuple, str]]:
    """Cross-references the models cannot check alone: SoF rows name comparisons of the plan,
    and an analysis's rob_tool fits what it selects. Returns (path, message) pairs."""
    from extract.appraisal import INTERVENTIONS

    out: list[tuple[tuple, str]] = []
    by_id = {a.id: a for a in plan.analyses}
    for i, a in enumerate(plan.analyses):
        tool, ex = a.appraisal.rob_tool, a.select.exposure
        path = ("analyses", i, "appraisal", "rob_tool")
        others = [e for e in ex if e not in INTERVENTIONS]
        if tool == "robins_i" and others:
            out.append((path, f"ROBINS-I assesses interventions; this analysis selects "
                              f"'{others[0]}', an exposure: use robins_e"))
        if tool == "robins_e" and ex and not others:
            out.append((path, f"'{ex[0]}' is an intervention: use robins_i (or rob2 for "
                              f"randomised trials)"))
        if tool is not None and a.select.kind == "proportion":
            out.append((path, "a single-group proportion has no comparison to assess; "
                              "remove rob_tool"))
    for i, t in enumerate(plan.sof):
        for j, r in enumerate(t.rows):
            a = by_id.get(r.analysis)
            path = ("sof", i, "rows", j, "analysis")
            if a is None:
                close = difflib.get_close_matches(r.analysis, list(by_id), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                out.append((path, f"'{r.analysis}' is not an analysis of this plan{hint}"))
            elif a.measure not in ("OR", "RR", "HR"):
                out.append((path, f"a Summary of Findings row needs a comparison pooled as "
                                  f"OR, RR or HR; '{a.id}' pools {a.measure}"))
    return out


__all__ = ["plan_problems", "AnalysisAppraisal", "SofTable", "SofRow", "AssumedRisk", "PlanThresholds",
           "GradeOverrides", "Indirectness", "DOWN", "UP"]
