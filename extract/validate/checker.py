"""Checks of one study file: the schema, then meaning, arithmetic and provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..appraisal import check_risk_of_bias
from ..schema import EXPOSURES, OUTCOMES, Record, Study, all_field_names
from ..text import Document
from ..yamlio import Located
from .explain import explain, strip_tags
from .messages import ERROR, WARNING, Message, clip, dotted
from .provenance import ProvenanceChecks
from .records import RecordChecks

#: At most this many messages per file; the rest are counted in one closing line.
MAX_MESSAGES = 200


class StudyChecker(RecordChecks, ProvenanceChecks):
    """Checks one study file; collects messages with positions."""

    def __init__(self, path: Path, display: str, located: Located, sources_dirs: list[Path]):
        self.path = path
        self.display = display
        self.loc = located
        self.sources_dirs = sources_dirs
        self.messages: list[Message] = []
        self.documents: dict[str, Document] = {}
        self.suppressed = 0
        self._first_suppressed: tuple[int, int] | None = None

    def add(self, severity: str, path: tuple, message: str, at_key: bool = False) -> None:
        """A message at the value of ``path`` (or at its key, for an unknown key)."""
        key_pos = self.loc.key_positions.get(tuple(path)) if at_key else None
        line, col = key_pos or self.loc.where(path)
        if len(self.messages) >= MAX_MESSAGES:
            self.suppressed += 1
            self._first_suppressed = self._first_suppressed or (line, col)
            return
        self.messages.append(Message(self.display, line, col, severity,
                                     dotted(path, self.loc.data), message))

    def finish(self) -> list[Message]:
        if self.suppressed:
            line, col = self._first_suppressed or (1, 1)
            self.messages.append(Message(
                self.display, line, col, ERROR, "",
                f"{self.suppressed} more message{'s' if self.suppressed != 1 else ''} not shown "
                f"(at most {MAX_MESSAGES} per file); fix these first"))
        return self.messages

    def raw(self, path: tuple) -> str | None:
        return self.loc.raw.get(tuple(path))

    # -- schema -------------------------------------------------------------

    def schema(self) -> Study | None:
        data = self.loc.data
        try:
            return Study.model_validate(data)
        except ValidationError as exc:
            names = all_field_names()
            errors = exc.errors(include_url=False)
            for err in errors[:MAX_MESSAGES + 1]:
                self.add(ERROR, strip_tags(err["loc"], data), explain(err, names),
                         at_key=err["type"] == "extra_forbidden")
            self.suppressed += max(0, len(errors) - MAX_MESSAGES - 1)
            return None

    def partial_records(self) -> list[tuple[int, Any]]:
        """Records that pass the schema on their own, for checks on a study with errors."""
        adapter = TypeAdapter(Record)
        out = []
        records = self.loc.data.get("records")
        for i, rec in enumerate(records[:MAX_MESSAGES] if isinstance(records, list) else []):
            try:
                out.append((i, adapter.validate_python(rec)))
            except ValidationError:
                pass
        return out

    # -- meaning ----------------------------------------------------------------

    def check_study(self, study: Study) -> None:
        if study.id != self.path.stem:
            self.add(ERROR, ("id",),
                     f"study id '{study.id}' must equal the file name '{clip(self.path.stem, 60)}'")
        seen_reg: set[str] = set()
        for i, reg in enumerate(study.registrations):
            if reg.upper() in seen_reg:
                self.add(ERROR, ("registrations", i),
                         f"registration '{clip(reg, 40)}' is listed twice")
            seen_reg.add(reg.upper())
        self.check_citation(study)
        group_ids = self._unique_ids("groups", [g.id for g in study.groups])
        self._unique_ids("strata", [s.id for s in study.strata])
        self._unique_ids("records", [r.id for r in study.records])
        cohort = max(
            (n for n in (study.population.n_enrolled, study.population.n_infused) if n is not None),
            default=None,
        )
        pop = study.population
        if pop.n_infused is not None and pop.n_enrolled is not None and pop.n_infused > pop.n_enrolled:
            self.add(ERROR, ("population", "n_infused"),
                     f"more patients infused ({pop.n_infused}) than enrolled ({pop.n_enrolled})")
        if pop.n_evaluable is not None and cohort is not None and pop.n_evaluable > cohort:
            self.add(ERROR, ("population", "n_evaluable"),
                     f"more patients evaluable ({pop.n_evaluable}) than in the cohort ({cohort})")
        for i, g in enumerate(study.groups):
            if g.n is not None and cohort is not None and g.n > cohort:
                self.add(ERROR, ("groups", i, "n"),
                         f"group size {g.n} exceeds the cohort size {cohort}")
            if g.comparator is not None:
                self.check_comparator(("groups", i, "comparator"), g.comparator)
        self.check_strata(study, cohort)
        groups = {g.id: g for g in study.groups}
        strata = {s.id: s for s in study.strata}
        for i, rec in enumerate(study.records):
            self.check_record(i, rec, group_ids, cohort, groups, strata)
        for i, o in enumerate(study.overlaps):
            if o.study == study.id:
                self.add(ERROR, ("overlaps", i, "study"), "a study cannot overlap itself")
        for path, msg in check_risk_of_bias(study, EXPOSURES, OUTCOMES):
            self.add(ERROR, path, msg)
        self.check_provenance(study)

    def check_citation(self, study: Study) -> None:
        authors = study.citation.authors
        for i, a in enumerate(authors[:-1]):
            if a.strip().lower().rstrip(".") in ("et al", "et al"):
                self.add(ERROR, ("citation", "authors", i),
                         "'et al.' can only end the author list")

    def check_strata(self, study: Study, cohort: int | None) -> None:
        by_variable: dict[str, list[int]] = {}
        for i, s in enumerate(study.strata):
            by_variable.setdefault(s.variable.strip().lower(), []).append(i)
            if cohort is not None and s.n > cohort:
                self.add(ERROR, ("strata", i, "n"),
                         f"stratum size {s.n} exceeds the cohort size {cohort}")
        for indices in by_variable.values():
            total = sum(study.strata[i].n for i in indices)
            if cohort is not None and len(indices) > 1 and total > cohort:
                self.add(ERROR, ("strata", indices[-1], "n"),
                         f"the strata of '{clip(study.strata[indices[0]].variable, 40)}' hold "
                         f"{total} patients, more than the cohort ({cohort})")

    def _unique_ids(self, section: str, ids: list[str]) -> set[str]:
        seen: dict[str, int] = {}
        for i, x in enumerate(ids):
            if x in seen:
                self.add(ERROR, (section, i, "id"),
                         f"duplicate id '{x}' (also {section}[{seen[x]}])")
            else:
                seen[x] = i
        return set(ids)


__all__ = ["StudyChecker", "MAX_MESSAGES", "ERROR", "WARNING"]
