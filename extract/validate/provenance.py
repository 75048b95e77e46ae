"""Provenance checks: sources found and unchanged, quotes in their sources, numbers in quotes."""

from __future__ import annotations

from typing import Any

from .. import numbers as num
from ..appraisal import rob_quotes
from ..schema import (
    BinaryRecord,
    ProportionRecord,
    PValueRecord,
    Quote,
    RatioRecord,
    Study,
    SurvivalRateRecord,
)
from ..sources import SourceEscapes, SourceRefused, check_name, resolve
from ..text import SourceError, load_document, normalise
from .messages import ERROR, WARNING, clip, did_you_mean
from .records import MISSING, get_path

NUMBER_FIELDS: dict[type, list[str]] = {
    BinaryRecord: ["exposed.events", "exposed.total", "exposed.percent",
                   "reference.events", "reference.total", "reference.percent", "p"],
    ProportionRecord: ["events", "total", "percent"],
    RatioRecord: ["estimate", "ci_lower", "ci_upper", "p", "events"],
    PValueRecord: ["p"],
    SurvivalRateRecord: ["rate", "se", "ci_lower", "ci_upper"],
}


class ProvenanceChecks:
    """Needs ``self.sources_dirs`` (list of folders) and ``self.documents`` (name -> Document)."""

    def _where(self) -> str:
        return ", ".join(str(d) for d in self.sources_dirs)

    def load_sources(self, study: Study) -> None:
        for i, src in enumerate(study.sources):
            try:
                check_name(src.file)  # with or without a sources folder at hand
            except SourceRefused as exc:
                self.add(ERROR, ("sources", i, "file"), str(exc))
        if not self.sources_dirs:
            if study.sources:
                self.add(WARNING, ("sources",),
                         "no sources directory found (use --sources DIR, the plan's sources: "
                         "or CARSYNTH_SOURCES); quotes were not verified")
            return
        for i, src in enumerate(study.sources):
            try:
                p = resolve(src.file, self.sources_dirs)
            except SourceEscapes as exc:
                self.add(ERROR, ("sources", i, "file"), str(exc))
                continue
            except SourceRefused:
                continue  # the name itself: reported above
            if p is None:
                self.add(WARNING, ("sources", i, "file"),
                         f"source document '{clip(src.file, 60)}' not found in {self._where()}; "
                         f"quotes were not verified against it")
                continue
            try:
                doc = load_document(p)
            except (SourceError, OSError) as exc:
                self.add(ERROR, ("sources", i, "file"), clip(str(exc), 200))
                continue
            if doc.sha256 != src.sha256:
                self.add(ERROR, ("sources", i, "sha256"),
                         f"sha256 of {clip(src.file, 60)} is {doc.sha256}, not the recorded one; "
                         f"the document changed or this is a different file")
                continue
            expected = "text" if src.kind == "abstract" else src.kind
            if doc.kind != expected:
                self.add(ERROR, ("sources", i, "kind"),
                         f"{clip(src.file, 60)} is a {doc.kind} document, not {src.kind}")
            self.documents[src.file] = doc

    def check_quote(self, path: tuple, q: Any, study: Study) -> None:
        names = {s.file for s in study.sources}
        if q.source is not None and q.source not in names:
            hint = did_you_mean(q.source, names, loose=True)
            self.add(ERROR, path + ("source",),
                     f"'{clip(q.source, 60)}' is not one of this study's sources{hint}")
            return
        if q.source is not None:
            docs = [self.documents[q.source]] if q.source in self.documents else []
        else:
            docs = list(self.documents.values())
        if not docs:
            return  # no readable source: already warned about
        for doc in docs:
            pages = doc.find(q.text)
            if pages:
                if q.page is not None and doc.kind == "pdf" and q.page not in pages:
                    self.add(ERROR, path + ("page",),
                             f"the quote is on page {', '.join(map(str, pages[:10]))} of "
                             f"{doc.path.name}, not page {q.page}")
                if q.page is not None and doc.kind == "pdf" and q.page > len(doc.pages):
                    self.add(ERROR, path + ("page",),
                             f"{doc.path.name} has {len(doc.pages)} pages")
                return
        if len(self.documents) < len(study.sources) and q.source is None:
            return  # it may be in the source we could not read
        where = q.source or ", ".join(d.path.name for d in docs)
        self.add(ERROR, path + ("text",),
                 f"quote not found in {clip(where, 60)}: \"{clip(q.text)}\"")

    def check_numbers_in_quotes(self, path: tuple, obj: Any, fields: list[str],
                                quotes: list[Quote], derived: dict[str, str]) -> None:
        texts = [normalise(q.text) for q in quotes]
        for f in fields:
            value = get_path(obj, f)
            if value is MISSING or value is None:
                continue
            fpath = path + tuple(f.split("."))
            raw = self.raw(fpath)
            if raw is None or f in derived:
                continue
            try:
                pattern = num.number_pattern(raw)
            except ValueError:
                self.add(ERROR, fpath,
                         f"write {clip(repr(raw), 30)} as the paper prints it, in plain digits "
                         f"(YAML reads it as {clip(repr(value), 30)})")
                continue
            if not any(pattern.search(t) for t in texts):
                what = "its quotes" if len(quotes) != 1 else "its quote"
                self.add(ERROR, fpath,
                         f"{clip(raw, 30)} does not occur in {what}; quote the text that prints "
                         f"it, or say how it was obtained under 'derived'")

    def check_provenance(self, study: Study) -> None:
        self.load_sources(study)
        for i, rec in enumerate(study.records):
            for j, q in enumerate(rec.quotes):
                self.check_quote(("records", i, "quotes", j), q, study)
            self.check_numbers_in_quotes(("records", i), rec, NUMBER_FIELDS[type(rec)],
                                         rec.quotes, rec.derived)
        for section, items in (("groups", study.groups), ("strata", study.strata)):
            for i, g in enumerate(items):
                if g.quote is not None:
                    self.check_quote((section, i, "quote"), g.quote, study)
                    self.check_numbers_in_quotes((section, i), g, ["n"], [g.quote], g.derived)
                elif g.n is not None and "n" not in g.derived:
                    what = "group" if section == "groups" else "stratum"
                    self.add(WARNING, (section, i, "n"),
                             f"{what} size has no quote; add `quote:` so it can be traced")
        for j, q in enumerate(study.grading.quotes if study.grading is not None else []):
            self.check_quote(("grading", "quotes", j), q, study)
        for section, obj, fields in (
            ("population", study.population,
             ["median_age", "n_enrolled", "n_infused", "n_evaluable", "share_children"]),
            ("design", study.design, ["n_centres", "follow_up_median_months"]),
        ):
            for j, q in enumerate(obj.quotes):
                self.check_quote((section, "quotes", j), q, study)
            if obj.quotes:
                self.check_numbers_in_quotes((section,), obj, fields, obj.quotes, obj.derived)
        for i, d in enumerate(study.discrepancies):
            for j, q in enumerate(d.quotes):
                self.check_quote(("discrepancies", i, "quotes", j), q, study)
        for path, q in rob_quotes(study):
            self.check_quote(path, q, study)
