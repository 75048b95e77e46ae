"""Summary of Findings rows: relative effect, absolute effects per 1,000, certainty, statement.

Absolute effects follow the Cochrane Handbook (Schünemann et al., chapter 14,
"Completing 'Summary of findings' tables and grading the certainty of the
evidence", section 14.1.5): the risk with the intervention is computed from
the assumed comparator risk (ACR) and the relative effect —

* RR: ACR × RR;
* OR: OR × ACR / (1 − ACR + OR × ACR);
* HR (time to event): 1 − (1 − ACR)^HR (the ACR being the proportion with the
  event by a stated time);

and the same formula applied to the CI limits gives the difference's CI.

Plain-language statements use the GRADE wording of Santesso et al. 2020 (J Clin
Epidemiol 119:126, "GRADE guidelines 26: informative statements to communicate
the findings of systematic reviews of interventions", Table 1): no modal verb
for high certainty, "probably" for moderate, "may" for low, and "The evidence
is very uncertain about the effect of ..." for very low; "slightly" for a small
important effect and "results in little to no difference" for a trivial one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .grade import DOMAIN_LABELS, LEVEL_WORDS, Certainty, Thresholds

DEFAULT_MID = (0.8, 1.25)   # ratio band of unimportant effects when the plan sets none


def risk_with_intervention(acr: float, ratio: float, measure: str) -> float:
    """Risk in the intervention group from the comparator risk (Cochrane Handbook 14.1.5)."""
    if measure == "RR":
        return min(1.0, acr * ratio)
    if measure == "OR":
        return ratio * acr / (1 - acr + ratio * acr)
    if measure == "HR":
        return 1 - (1 - acr) ** ratio
    raise ValueError(f"no absolute effect for measure {measure}")


@dataclass(frozen=True)
class Absolute:
    per1000_comparator: int
    per1000_intervention: int
    int_lower: int
    int_upper: int
    difference: int
    diff_lower: int
    diff_upper: int
    source: str

    def intervention_text(self) -> str:
        return f"{self.per1000_intervention} per 1,000 ({self.int_lower} to {self.int_upper})"

    def text(self) -> str:
        d, lo, hi = self.difference, self.diff_lower, self.diff_upper
        return f"{_signed(d)} per 1,000 ({_signed(lo)} to {_signed(hi)})"

    def to_dict(self) -> dict[str, Any]:
        return {"per1000_comparator": self.per1000_comparator,
                "per1000_intervention": self.per1000_intervention,
                "per1000_intervention_ci": [self.int_lower, self.int_upper],
                "difference": self.difference, "ci": [self.diff_lower, self.diff_upper],
                "assumed_risk_source": self.source}


def _signed(v: int) -> str:
    return f"{abs(v)} fewer" if v < 0 else (f"{v} more" if v > 0 else "0")


def absolute_effects(acr: float, estimate: float, lo: float, hi: float, measure: str,
                     source: str) -> Absolute:
    c = 1000 * acr
    risks = [1000 * risk_with_intervention(acr, r, measure) for r in (estimate, lo, hi)]
    diffs = [r - c for r in risks]
    return Absolute(round(c), round(risks[0]), round(min(risks[1:])), round(max(risks[1:])),
                    round(diffs[0]), round(min(diffs[1:])), round(max(diffs[1:])), source)


def size_of_effect(estimate: float, t: Thresholds) -> str:
    """'trivial', 'small' or 'large' for a ratio, from the plan's thresholds."""
    lo, hi = (t.benefit, t.harm) if t.benefit is not None and t.harm is not None else DEFAULT_MID
    lo, hi = sorted((lo, hi))
    if lo < estimate < hi:
        return "trivial"
    fold = estimate if estimate >= 1 else 1 / estimate
    return "large" if fold >= t.large else "small"


def statement(certainty: int, estimate: float, t: Thresholds, intervention: str,
              event: str) -> str:
    """GRADE informative statement (Santesso et al. 2020, Table 1)."""
    if certainty == 1:
        return f"The evidence is very uncertain about the effect of {intervention} on {event}."
    size = size_of_effect(estimate, t)
    modal = {4: "", 3: "probably ", 2: "may "}[certainty]
    if size == "trivial":
        verb = "result in" if certainty == 2 else "results in"  # "may" takes the bare verb
        return f"{intervention} {modal}{verb} little to no difference in {event}."
    up = estimate > 1
    verb = ("increase" if up else "reduce") if certainty == 2 else ("increases" if up else "reduces")
    slightly = "slightly " if size == "small" else ""
    return f"{intervention} {modal}{slightly}{verb} {event}."


@dataclass(frozen=True)
class SofRowResult:
    outcome: str
    analysis: str
    measure: str
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    participants: int | None
    studies: int
    absolute: Absolute | None
    absolute_note: str
    certainty: Certainty | None
    statement: str
    footnotes: tuple[str, ...]

    @property
    def relative(self) -> str:
        if self.estimate is None:
            return "not estimable"
        return f"{self.measure} {self.estimate:.2f} ({self.ci_lower:.2f} to {self.ci_upper:.2f})"

    @property
    def participants_text(self) -> str:
        n = f"{self.participants:,}" if self.participants is not None else "not reported"
        return f"{n} ({self.studies} {'study' if self.studies == 1 else 'studies'})"

    @property
    def certainty_text(self) -> str:
        if self.certainty is None:
            return "not rated"
        return f"{self.certainty.symbols} {self.certainty.label.capitalize()}"

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "analysis": self.analysis, "measure": self.measure,
                "estimate": self.estimate, "ci": [self.ci_lower, self.ci_upper],
                "participants": self.participants, "studies": self.studies,
                "absolute": self.absolute.to_dict() if self.absolute else None,
                "absolute_note": self.absolute_note,
                "certainty": self.certainty.to_dict() if self.certainty else None,
                "statement": self.statement, "footnotes": list(self.footnotes)}


def footnotes_for(c: Certainty, sensitivity: str | None = None) -> tuple[str, ...]:
    """One footnote per domain that moved the rating (or was overridden), then the sensitivity."""
    out = []
    for d in (*c.domains, c.upgrade):
        if d.level == 0 and d.suggested == 0:
            continue
        up = d.domain == "large_effect"
        words = {0: "not rated up", 1: "rated up one level", 2: "rated up two levels"} if up \
            else {0: "not downgraded", 1: "downgraded one level", 2: "downgraded two levels"}
        text = f"{DOMAIN_LABELS[d.domain]}: {words[d.level]}. Rule: {d.reason}."
        if d.override is not None:
            sugg = words[d.suggested] if up else LEVEL_WORDS[d.suggested]
            text += (f" The rule suggested {sugg}; the review overrides it: "
                     f"{d.override.justification}")
        out.append(text)
    if sensitivity:
        out.append(sensitivity)
    return tuple(out)


def sof_row(*, outcome: str, analysis: str, measure: str, estimate: float | None,
            ci_lower: float | None, ci_upper: float | None, participants: int | None,
            studies: int, certainty: Certainty | None, thresholds: Thresholds,
            intervention: str, event: str, acr: float | None, acr_source: str,
            sensitivity: str | None = None) -> SofRowResult:
    """Assemble one SoF row from a fit's numbers and its GRADE rating."""
    absolute, note = None, ""
    if estimate is None or ci_lower is None or ci_upper is None:
        note = "not estimable"
    elif acr is None:
        note = ("not estimable: no comparator risk (give `assumed_risk` for this row in the "
                "plan's sof section)")
    elif measure in ("OR", "RR", "HR"):
        absolute = absolute_effects(acr, estimate, ci_lower, ci_upper, measure, acr_source)
    else:
        note = f"not computed for {measure}"
    if certainty is None or estimate is None:
        text = "Not rated."
        notes: tuple[str, ...] = (sensitivity,) if sensitivity else ()
    else:
        text = statement(certainty.score, estimate, thresholds, intervention, event)
        notes = footnotes_for(certainty, sensitivity)
    return SofRowResult(outcome, analysis, measure, estimate, ci_lower, ci_upper, participants,
                        studies, absolute, note, certainty, text, notes)


@dataclass(frozen=True)
class SofTableResult:
    """One Summary of Findings table: a comparison and its outcome rows."""

    id: str
    title: str
    population: str
    setting: str | None
    intervention: str
    comparison: str
    rows: tuple[SofRowResult, ...]

    def lettered(self) -> tuple[list[tuple[SofRowResult, str]], list[tuple[str, str]]]:
        """Rows with their footnote letters ('a,b'), and the (letter, footnote) list."""
        letters: dict[str, str] = {}
        rows = []
        for r in self.rows:
            mine = []
            for f in r.footnotes:
                if f not in letters:
                    letters[f] = _letter(len(letters))
                mine.append(letters[f])
            rows.append((r, ",".join(mine)))
        return rows, [(v, k) for k, v in letters.items()]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "population": self.population,
                "setting": self.setting, "intervention": self.intervention,
                "comparison": self.comparison, "rows": [r.to_dict() for r in self.rows]}


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(97 + rem) + s
    return s
