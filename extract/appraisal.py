"""Risk of bias in the study file: the optional ``risk_of_bias:`` section.

One assessment per (tool, exposures, outcomes): a study can carry several,
e.g. one ROBINS-I assessment of glucocorticoids for PFS/OS and another for
complete response, where the domains are judged differently, and a ROBINS-E
assessment of CRS as an exposure. Each domain judgement carries a support text
and, where it rests on the paper, verbatim quotes with their location, checked
against the sources like every other quote (:mod:`extract.validate`).

Tools, domains and judgement levels, each in the tool's own words:

* ROBINS-I (Sterne et al. 2016, BMJ 355:i4919), non-randomised studies of
  interventions: seven bias domains; low / moderate / serious / critical /
  no information.
* ROBINS-E (ROBINS-E Development Group, Higgins et al. 2024, Environ Int
  186:108602), non-randomised studies of exposures: seven domains; low /
  some concerns / high / very high / no information.
* RoB 2 (Sterne et al. 2019, BMJ 366:l4898), randomised trials: five domains;
  low / some concerns / high.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Annotated, Any, Iterator, Literal, Mapping, Union

from pydantic import (BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag,
                      create_model)

NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)]


@dataclass(frozen=True)
class ToolSpec:
    """One risk-of-bias tool: its domains, its judgement levels, and how severe each level is."""

    name: str
    label: str
    design: Literal["randomised", "non-randomised"]
    domains: dict[str, str]           # yaml key -> the tool's domain title
    levels: tuple[str, ...]           # judgement levels, least to most severe, then no_information
    severity: dict[str, int | None]   # 0 low, 1 moderate/some concerns, 2 serious/high, 3 critical/very high
    short: dict[str, str]             # level -> label shown in tables and plots


TOOLS: dict[str, ToolSpec] = {
    "robins_i": ToolSpec(
        "robins_i", "ROBINS-I", "non-randomised",
        {
            "confounding": "Bias due to confounding",
            "selection": "Bias in selection of participants into the study",
            "classification": "Bias in classification of interventions",
            "deviations": "Bias due to deviations from intended interventions",
            "missing_data": "Bias due to missing data",
            "measurement": "Bias in measurement of outcomes",
            "reporting": "Bias in selection of the reported result",
        },
        ("low", "moderate", "serious", "critical", "no_information"),
        {"low": 0, "moderate": 1, "serious": 2, "critical": 3, "no_information": None},
        {"low": "Low", "moderate": "Moderate", "serious": "Serious", "critical": "Critical",
         "no_information": "No information"},
    ),
    "robins_e": ToolSpec(
        "robins_e", "ROBINS-E", "non-randomised",
        {
            "confounding": "Risk of bias due to confounding",
            "exposure_measurement": "Risk of bias arising from measurement of the exposure",
            "selection": "Risk of bias in selection of participants into the study",
            "post_exposure_interventions": "Risk of bias due to post-exposure interventions",
            "missing_data": "Risk of bias due to missing data",
            "measurement": "Risk of bias arising from measurement of the outcome",
            "reporting": "Risk of bias in selection of the reported result",
        },
        ("low", "some_concerns", "high", "very_high", "no_information"),
        {"low": 0, "some_concerns": 1, "high": 2, "very_high": 3, "no_information": None},
        {"low": "Low", "some_concerns": "Some concerns", "high": "High", "very_high": "Very high",
         "no_information": "No information"},
    ),
    "rob2": ToolSpec(
        "rob2", "RoB 2", "randomised",
        {
            "randomisation": "Bias arising from the randomisation process",
            "deviations": "Bias due to deviations from intended interventions",
            "missing_data": "Bias due to missing outcome data",
            "measurement": "Bias in measurement of the outcome",
            "reporting": "Bias in selection of the reported result",
        },
        ("low", "some_concerns", "high"),
        {"low": 0, "some_concerns": 1, "high": 2},
        {"low": "Low", "some_concerns": "Some concerns", "high": "High"},
    ),
}

#: Exposures that are interventions someone chose to give (ROBINS-I, RoB 2);
#: the others (toxicities, covariates) are exposures for ROBINS-E.
INTERVENTIONS = frozenset({"gc", "gc_low_dose", "gc_high_dose", "gc_early", "gc_long",
                           "tcz", "rux"})

#: severity at or above which a study counts as "serious or critical" risk
SERIOUS = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RobQuote(_Model):
    """Verbatim text a judgement rests on. Unlike a record's quote it must say where it is.

    (This module is imported by :mod:`extract.schema`, so it cannot use its
    ``Quote``; the validator checks both the same way, by text, source and page.)
    """

    text: NonEmpty = Field(description="verbatim text, as it appears in the source")
    location: NonEmpty = Field(description="section, table or figure, e.g. 'Discussion, limitations'")
    source: str | None = Field(None, description="file name of one of the study's sources")
    page: Annotated[int, Field(strict=True, ge=1)] | None = None


def _judgement_model(spec: ToolSpec, name: str) -> type[BaseModel]:
    level = Literal[spec.levels]  # type: ignore[valid-type]
    return create_model(
        f"{name}Judgement", __base__=_Model, __module__=__name__,
        judgement=(level, Field(description=f"{spec.label} level: {', '.join(spec.levels)}")),
        support=(NonEmpty, Field(description="why: the reviewer's reasoning")),
        quotes=(list[RobQuote], Field(default_factory=list,
                                      description="verbatim text the judgement rests on, "
                                                  "with location")),
    )


def _assessment_model(spec: ToolSpec, name: str) -> type[BaseModel]:
    """The assessment model of one tool; its classes are module attributes named
    ``{name}Judgement``, ``{name}Domains``, ``{name}Assessment`` (so they pickle)."""
    judgement = _judgement_model(spec, name)
    domains = create_model(f"{name}Domains", __base__=_Model, __module__=__name__,
                           **{d: (judgement, Field(description=title))
                              for d, title in spec.domains.items()})
    model = create_model(
        f"{name}Assessment", __base__=_Model, __module__=__name__,
        id=(Slug, ...),
        tool=(Literal[spec.name], ...),  # type: ignore[valid-type]
        exposures=(list[Slug], Field(min_length=1, description="exposures (study file vocabulary)")),
        outcomes=(list[Slug], Field(min_length=1, description="outcomes (study file vocabulary)")),
        domains=(domains, ...),
        overall=(judgement, ...),
        notes=(str | None, None),
    )
    globals().update({judgement.__name__: judgement, domains.__name__: domains})
    return model


RobinsIAssessment = _assessment_model(TOOLS["robins_i"], "RobinsI")
RobinsEAssessment = _assessment_model(TOOLS["robins_e"], "RobinsE")
Rob2Assessment = _assessment_model(TOOLS["rob2"], "Rob2")


def _tool_of(value: Any) -> str | None:
    tool = value.get("tool") if isinstance(value, dict) else getattr(value, "tool", None)
    return tool if tool in TOOLS else None


RiskOfBias = Annotated[
    Union[Annotated[RobinsIAssessment, Tag("robins_i")],  # type: ignore[valid-type]
          Annotated[RobinsEAssessment, Tag("robins_e")],  # type: ignore[valid-type]
          Annotated[Rob2Assessment, Tag("rob2")]],  # type: ignore[valid-type]
    Discriminator(
        _tool_of,
        custom_error_type="rob_tool",
        custom_error_message="'tool' must be robins_i (non-randomised study of an intervention), "
                             "robins_e (of an exposure) or rob2 (randomised trial)",
    ),
]


def domain_items(assessment: Any) -> Iterator[tuple[str, Any]]:
    """(domain key, judgement) in the tool's order, then ("overall", judgement)."""
    for d in TOOLS[assessment.tool].domains:
        yield d, getattr(assessment.domains, d)
    yield "overall", assessment.overall


def rob_quotes(study: Any) -> Iterator[tuple[tuple, RobQuote]]:
    """Every quote of the risk-of-bias section with its path in the file."""
    for i, a in enumerate(study.risk_of_bias or []):
        yield from rob_quotes_of(i, a)


def check_risk_of_bias(study: Any, exposures: Mapping[str, str],
                       outcomes: Mapping[str, str]) -> list[tuple[tuple, str]]:
    """Checks beyond the schema: the vocabulary, the tool fits the design and the exposure,
    no (exposure, outcome) assessed twice.

    ``exposures``/``outcomes`` are the study file's vocabularies (name -> meaning).
    Returns (path, message) pairs; the validator reports them as errors.
    """
    out: list[tuple[tuple, str]] = []
    seen_ids: dict[str, int] = {}
    covered: dict[tuple[str, str], int] = {}
    for i, a in enumerate(study.risk_of_bias or []):
        spec = TOOLS[a.tool]
        if a.id in seen_ids:
            out.append((("risk_of_bias", i, "id"),
                        f"duplicate id '{a.id}' (also risk_of_bias[{seen_ids[a.id]}])"))
        seen_ids.setdefault(a.id, i)
        if spec.design == "randomised" and study.design.type == "retrospective":
            out.append((("risk_of_bias", i, "tool"),
                        "RoB 2 is for randomised trials; this study's design is retrospective: "
                        "use robins_i (intervention) or robins_e (exposure)"))
        for j, o in enumerate(a.outcomes):
            if o not in outcomes:
                out.append((("risk_of_bias", i, "outcomes", j),
                            f"'{o}' is not in the outcome vocabulary{_close(o, outcomes)}"))
        for j, e in enumerate(a.exposures):
            if e not in exposures:
                out.append((("risk_of_bias", i, "exposures", j),
                            f"'{e}' is not in the exposure vocabulary{_close(e, exposures)}"))
                continue
            if a.tool == "robins_i" and e not in INTERVENTIONS:
                out.append((("risk_of_bias", i, "exposures", j),
                            f"ROBINS-I assesses interventions; '{e}' is not one "
                            f"({exposures[e]}): use tool robins_e"))
            if a.tool == "robins_e" and e in INTERVENTIONS:
                out.append((("risk_of_bias", i, "exposures", j),
                            f"'{e}' is an intervention ({exposures[e]}): use tool robins_i"))
            for o in a.outcomes:
                if (e, o) in covered:
                    out.append((("risk_of_bias", i, "exposures", j),
                                f"exposure '{e}' with outcome '{o}' is already assessed in "
                                f"risk_of_bias[{covered[(e, o)]}]"))
                covered.setdefault((e, o), i)
    return out


def _close(word: str, options: Mapping[str, str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def rob_quotes_of(i: int, a: Any) -> Iterator[tuple[tuple, RobQuote]]:
    for d, j in domain_items(a):
        base = ("risk_of_bias", i, "overall") if d == "overall" else \
               ("risk_of_bias", i, "domains", d)
        for k, q in enumerate(j.quotes):
            yield base + ("quotes", k), q


def assessment_for(study: Any, exposure: str, outcome: str) -> Any | None:
    """The study's assessment covering this exposure and outcome, if any."""
    for a in study.risk_of_bias or []:
        if exposure in a.exposures and outcome in a.outcomes:
            return a
    return None


def severity(assessment: Any) -> int | None:
    """The overall judgement's severity (0 low ... 3 critical/very high; None: no information)."""
    return TOOLS[assessment.tool].severity[assessment.overall.judgement]
