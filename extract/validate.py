"""`carsynth validate`: check study files against the format, arithmetic, papers and each other.

Every problem in a file is reported at once, as
``file:line:col: error|warning: field.path: message``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from pydantic import TypeAdapter, ValidationError

from . import numbers as num
from .schema import (
    EXPOSURES,
    OUTCOMES,
    BinaryRecord,
    Group,
    ProportionRecord,
    PValueRecord,
    Quote,
    RatioRecord,
    Record,
    Study,
    SurvivalRateRecord,
    all_field_names,
    parse_p,
)
from .text import Document, SourceError, load_document, normalise
from .yamlio import Located, YamlInputError, load_file

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Message:
    file: str
    line: int
    col: int
    severity: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {where}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileResult:
    path: Path
    located: Located | None = None
    study: Study | None = None
    messages: list[Message] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(m.severity == ERROR for m in self.messages)


@dataclass
class Report:
    files: list[FileResult]

    @property
    def messages(self) -> list[Message]:
        out = [m for f in self.files for m in f.messages]
        return sorted(out, key=lambda m: (m.file, m.line, m.col, m.severity, m.message))

    @property
    def errors(self) -> int:
        return sum(m.severity == ERROR for m in self.messages)

    @property
    def warnings(self) -> int:
        return sum(m.severity == WARNING for m in self.messages)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def studies(self) -> list[Study]:
        return [f.study for f in self.files if f.study is not None]


def dotted(path: Iterable[Any], data: Any = None) -> str:
    """'records[2](icans_any).percent': list indices, with the item's id when it has one."""
    out = ""
    node = data
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out += f"({item['id']})"
            node = item
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


# --- sources -------------------------------------------------------------------


def default_sources_dir(study_paths: list[Path]) -> Path | None:
    """Where to look for source documents when --sources is not given."""
    env = os.environ.get("CARSYNTH_SOURCES")
    if env:
        return Path(env)
    for p in study_paths:
        base = p if p.is_dir() else p.parent
        candidate = base.parent / "sources"
        if candidate.is_dir():
            return candidate
    return None


class _Checker:
    """Checks one study file; collects messages with positions."""

    def __init__(self, path: Path, display: str, located: Located, sources_dir: Path | None):
        self.path = path
        self.display = display
        self.loc = located
        self.sources_dir = sources_dir
        self.messages: list[Message] = []
        self.documents: dict[str, Document] = {}

    def add(self, severity: str, path: tuple, message: str) -> None:
        line, col = self.loc.where(path)
        self.messages.append(Message(self.display, line, col, severity,
                                     dotted(path, self.loc.data), message))

    def raw(self, path: tuple) -> str | None:
        return self.loc.raw.get(tuple(path))

    # -- schema -------------------------------------------------------------

    def schema(self) -> Study | None:
        data = self.loc.data
        try:
            return Study.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                path = _strip_tags(err["loc"], data)
                self.add(ERROR, path, _explain(err))
            return None

    # -- record-level checks that also run on a study with schema errors ------

    def partial_records(self) -> list[tuple[int, Any]]:
        adapter = TypeAdapter(Record)
        out = []
        for i, rec in enumerate(self.loc.data.get("records") or []):
            try:
                out.append((i, adapter.validate_python(rec)))
            except ValidationError:
                pass
        return out

    # -- semantic checks ----------------------------------------------------

    def check_study(self, study: Study) -> None:
        if study.id != self.path.stem:
            self.add(
                ERROR,
                ("id",),
                f"study id '{study.id}' must equal the file name '{self.path.stem}'",
            )
        seen_reg: set[str] = set()
        for i, reg in enumerate(study.registrations):
            if reg.upper() in seen_reg:
                self.add(ERROR, ("registrations", i), f"registration '{reg}' is listed twice")
            seen_reg.add(reg.upper())
        group_ids = self._unique_ids("groups", [g.id for g in study.groups])
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
        for i, rec in enumerate(study.records):
            self.check_record(i, rec, group_ids, cohort, {g.id: g for g in study.groups})
        for i, o in enumerate(study.overlaps):
            if o.study == study.id:
                self.add(ERROR, ("overlaps", i, "study"), "a study cannot overlap itself")
        self.check_provenance(study)

    def _unique_ids(self, section: str, ids: list[str]) -> set[str]:
        seen: dict[str, int] = {}
        for i, x in enumerate(ids):
            if x in seen:
                self.add(ERROR, (section, i, "id"),
                         f"duplicate id '{x}' (also {section}[{seen[x]}])")
            else:
                seen[x] = i
        return set(ids)

    def _group_ref(self, path: tuple, gid: str | None, group_ids: set[str]) -> None:
        if gid is None or gid in group_ids:
            return
        hint = _did_you_mean(gid, group_ids)
        known = ", ".join(sorted(group_ids)) or "none are defined"
        self.add(ERROR, path, f"unknown group '{gid}'{hint}; groups are: {known}")

    def check_record(self, i: int, rec: Any, group_ids: set[str] | None,
                     cohort: int | None, groups: dict[str, Group]) -> None:
        base = ("records", i)
        if getattr(rec, "exposure", None) == "other" and not getattr(rec, "exposure_label", None):
            self.add(ERROR, base + ("exposure_label",),
                     "exposure 'other' needs an exposure_label naming the covariate")
        for key in rec.derived:
            if _get_path(rec, key) is _MISSING:
                self.add(ERROR, base + ("derived", key),
                         f"'derived' names '{key}', which is not a field of this record")
        if isinstance(rec, BinaryRecord):
            for arm_name in ("exposed", "reference"):
                arm = getattr(rec, arm_name)
                apath = base + (arm_name,)
                if group_ids is not None:
                    self._group_ref(apath + ("group",), arm.group, group_ids)
                self._events_total(apath, arm.events, arm.total, arm.percent, cohort)
                g = groups.get(arm.group)
                if g is not None and g.n is not None and arm.total > g.n:
                    self.add(WARNING, apath + ("total",),
                             f"total {arm.total} exceeds the size of group '{g.id}' (n = {g.n})")
            if rec.exposed.group == rec.reference.group:
                self.add(ERROR, base + ("reference", "group"),
                         "exposed and reference arms name the same group")
            if cohort is not None and rec.exposed.total + rec.reference.total > cohort:
                self.add(ERROR, base + ("reference", "total"),
                         f"the two arms hold {rec.exposed.total + rec.reference.total} patients, "
                         f"more than the cohort ({cohort})")
        elif isinstance(rec, ProportionRecord):
            if group_ids is not None:
                self._group_ref(base + ("group",), rec.group, group_ids)
            self._events_total(base, rec.events, rec.total, rec.percent, cohort)
        elif isinstance(rec, RatioRecord):
            self.check_ratio(base, rec)
        elif isinstance(rec, SurvivalRateRecord):
            if group_ids is not None:
                self._group_ref(base + ("group",), rec.group, group_ids)
            if (rec.ci_lower is None) != (rec.ci_upper is None):
                self.add(ERROR, base + ("ci_lower" if rec.ci_lower is None else "ci_upper",),
                         "give both CI limits or neither")
            elif rec.ci_lower is not None and not (rec.ci_lower <= rec.rate <= rec.ci_upper):
                self.add(ERROR, base + ("rate",),
                         f"the rate {rec.rate} lies outside its CI [{rec.ci_lower}, {rec.ci_upper}]")
        elif isinstance(rec, PValueRecord):
            if group_ids is not None:
                for j, gid in enumerate(rec.groups):
                    self._group_ref(base + ("groups", j), gid, group_ids)

    def _events_total(self, path: tuple, events: int, total: int, percent: float | None,
                      cohort: int | None) -> None:
        if events > total:
            self.add(ERROR, path + ("events",), f"events ({events}) exceed the total ({total})")
            return
        if total == 0:
            self.add(ERROR, path + ("total",), "total must be at least 1")
            return
        if cohort is not None and total > cohort:
            self.add(ERROR, path + ("total",), f"total {total} exceeds the cohort size {cohort}")
        if percent is not None:
            text = self.raw(path + ("percent",)) or repr(percent)
            if not num.percent_consistent(events, total, text):
                exact = 100 * events / total
                self.add(
                    WARNING,
                    path + ("percent",),
                    f"printed {text}% does not match {events}/{total} = {exact:.4g}% "
                    f"at the printed precision" + self._recorded(path + ("percent",)),
                )

    def _recorded(self, path: tuple) -> str:
        """' (recorded as discrepancies[i])' when a discrepancy names this field."""
        data = self.loc.data
        if len(path) < 2 or path[0] != "records":
            return ""
        try:
            rec_id = data["records"][path[1]]["id"]
        except (KeyError, IndexError, TypeError):
            return ""
        wanted = ".".join(["records", str(rec_id)] + [str(p) for p in path[2:]])
        for i, d in enumerate(data.get("discrepancies") or []):
            if isinstance(d, dict) and d.get("field") == wanted:
                return f" (a paper inconsistency, recorded as discrepancies[{i}])"
        return ""

    def check_ratio(self, base: tuple, rec: RatioRecord) -> None:
        lo, hi = rec.ci_lower, rec.ci_upper
        if (lo is None) != (hi is None):
            self.add(ERROR, base + ("ci_lower" if lo is None else "ci_upper",),
                     "give both CI limits or neither")
            return
        if lo is None or hi is None:
            if rec.p is None:
                self.add(WARNING, base + ("estimate",),
                         "a ratio with neither CI nor p-value cannot be pooled")
            return
        if not lo < hi:
            self.add(ERROR, base + ("ci_lower",),
                     f"CI lower limit {lo} is not below the upper limit {hi} (reversed CI?)")
            return
        if not lo <= rec.estimate <= hi:
            self.add(ERROR, base + ("estimate",),
                     f"the estimate {rec.estimate} lies outside its CI [{lo}, {hi}]")
            return
        t_est = self.raw(base + ("estimate",)) or repr(rec.estimate)
        t_lo = self.raw(base + ("ci_lower",)) or repr(lo)
        t_hi = self.raw(base + ("ci_upper",)) or repr(hi)
        ok, c_lo, c_hi = num.ratio_centre_consistent(t_est, t_lo, t_hi)
        if not ok:
            self.add(
                WARNING,
                base + ("estimate",),
                f"{rec.measure} {t_est} is not the geometric centre of its CI "
                f"({t_lo}-{t_hi}, centre {c_lo:.3g}-{c_hi:.3g} allowing for rounding); "
                f"a typo, or a CI not from a Wald test" + self._recorded(base + ("estimate",)),
            )
        if rec.p is not None:
            p_text = self.raw(base + ("p",)) or str(rec.p)
            op, _ = parse_p(rec.p)
            p_lo, p_hi = num.p_interval(op, p_text.lstrip("<>=≤≥ "))
            r_lo, r_hi = num.p_from_ci_range(t_est, t_lo, t_hi, rec.ci_level)
            # small slack on the recomputed side: papers' CIs and p-values may come
            # from slightly different tests (Wald vs likelihood ratio)
            if r_hi < p_lo * 0.9 or r_lo > p_hi * 1.1:
                self.add(
                    WARNING,
                    base + ("p",),
                    f"p = {p_text} does not match the CI: a Wald test on "
                    f"{t_est} ({t_lo}-{t_hi}) gives p between {r_lo:.2g} and {r_hi:.2g} "
                    f"(Altman & Bland 2011)" + self._recorded(base + ("p",)),
                )

    # -- provenance ---------------------------------------------------------

    def load_sources(self, study: Study) -> None:
        if self.sources_dir is None:
            if study.sources:
                self.add(WARNING, ("sources",),
                         "no sources directory found (use --sources DIR or CARSYNTH_SOURCES); "
                         "quotes were not verified")
            return
        for i, src in enumerate(study.sources):
            p = self.sources_dir / src.file
            if not p.is_file():
                self.add(WARNING, ("sources", i, "file"),
                         f"source document '{src.file}' not found in {self.sources_dir}; "
                         f"quotes were not verified against it")
                continue
            try:
                doc = load_document(p)
            except SourceError as exc:
                self.add(ERROR, ("sources", i, "file"), str(exc))
                continue
            if doc.sha256 != src.sha256:
                self.add(ERROR, ("sources", i, "sha256"),
                         f"sha256 of {src.file} is {doc.sha256}, not the recorded one; "
                         f"the document changed or this is a different file")
                continue
            if doc.kind != src.kind:
                self.add(ERROR, ("sources", i, "kind"),
                         f"{src.file} is a {doc.kind} document, not {src.kind}")
            self.documents[src.file] = doc

    def check_quote(self, path: tuple, q: Quote, study: Study) -> None:
        names = {s.file for s in study.sources}
        if q.source is not None and q.source not in names:
            hint = _did_you_mean(q.source, names)
            self.add(ERROR, path + ("source",),
                     f"'{q.source}' is not one of this study's sources{hint}")
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
                             f"the quote is on page {', '.join(map(str, pages))} of "
                             f"{doc.path.name}, not page {q.page}")
                if q.page is not None and doc.kind == "pdf" and q.page > len(doc.pages):
                    self.add(ERROR, path + ("page",),
                             f"{doc.path.name} has {len(doc.pages)} pages")
                return
        if len(self.documents) < len(study.sources) and q.source is None:
            return  # it may be in the source we could not read
        where = q.source or ", ".join(d.path.name for d in docs)
        self.add(ERROR, path + ("text",),
                 f"quote not found in {where}: \"{_clip(q.text)}\"")

    def check_numbers_in_quotes(self, path: tuple, obj: Any, fields: list[str],
                                quotes: list[Quote], derived: dict[str, str]) -> None:
        texts = [normalise(q.text) for q in quotes]
        for f in fields:
            value = _get_path(obj, f)
            if value is _MISSING or value is None:
                continue
            fpath = path + tuple(f.split("."))
            raw = self.raw(fpath)
            if raw is None:
                continue
            if f in derived:
                continue
            try:
                pattern = num.number_pattern(raw)
            except ValueError:
                self.add(ERROR, fpath,
                         f"write {raw!r} as the paper prints it, in plain digits "
                         f"(YAML reads it as {value!r})")
                continue
            if not any(pattern.search(t) for t in texts):
                what = "its quotes" if len(quotes) != 1 else "its quote"
                self.add(ERROR, fpath,
                         f"{raw} does not occur in {what}; quote the text that prints it, "
                         f"or say how it was obtained under 'derived'")

    def check_provenance(self, study: Study) -> None:
        self.load_sources(study)
        for i, rec in enumerate(study.records):
            for j, q in enumerate(rec.quotes):
                self.check_quote(("records", i, "quotes", j), q, study)
            self.check_numbers_in_quotes(("records", i), rec, _NUMBER_FIELDS[type(rec)],
                                         rec.quotes, rec.derived)
        for i, g in enumerate(study.groups):
            if g.quote is not None:
                self.check_quote(("groups", i, "quote"), g.quote, study)
                self.check_numbers_in_quotes(("groups", i), g, ["n"], [g.quote], g.derived)
            elif g.n is not None and "n" not in g.derived:
                self.add(WARNING, ("groups", i, "n"),
                         "group size has no quote; add `quote:` so it can be traced")
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


_NUMBER_FIELDS: dict[type, list[str]] = {
    BinaryRecord: ["exposed.events", "exposed.total", "exposed.percent",
                   "reference.events", "reference.total", "reference.percent", "p"],
    ProportionRecord: ["events", "total", "percent"],
    RatioRecord: ["estimate", "ci_lower", "ci_upper", "p", "events"],
    PValueRecord: ["p"],
    SurvivalRateRecord: ["rate", "se", "ci_lower", "ci_upper"],
}

_MISSING = object()


def _get_path(obj: Any, dotted_path: str) -> Any:
    for part in dotted_path.split("."):
        if not hasattr(obj, part) or part not in type(obj).model_fields:
            return _MISSING
        obj = getattr(obj, part)
    return obj


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _strip_tags(loc: tuple, data: Any) -> tuple:
    """Drop the discriminator tags pydantic inserts into union error locations."""
    out = []
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part in node:
                out.append(part)
                node = node[part]
                continue
            if isinstance(part, str) and node.get("kind") == part:
                continue  # union tag
            out.append(part)
            node = None
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        else:
            if isinstance(part, str) and part.startswith(("function-", "union[", "tagged-")):
                continue
            if part in ("float", "str", "int", "bool"):
                continue
            out.append(part)
            node = None
    return tuple(out)


_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
}


def _numeric_text(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _found(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _explain(err: dict) -> str:
    """Turn a pydantic error into 'what was expected, what was found'."""
    kind = err["type"]
    found = err.get("input")
    loc = err["loc"]
    if kind == "missing":
        return f"required field '{loc[-1]}' is missing"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return f"unknown field '{name}'{_did_you_mean(name, all_field_names())}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
        options = [o for o in options if o]
        hint = _did_you_mean(str(found), options)
        if len(options) > 8:
            vocab = "outcome" if set(options) <= set(OUTCOMES) else (
                "exposure" if set(options) <= set(EXPOSURES) else "allowed")
            return (f"'{found}' is not in the {vocab} vocabulary{hint}; "
                    f"expected one of: {', '.join(options)}")
        return f"expected one of {expected}; found {_found(found)}{hint}"
    if kind == "union_tag_invalid":
        expected = err.get("ctx", {}).get("expected_tags", "")
        tag = err.get("ctx", {}).get("tag", found)
        return f"unknown record kind '{tag}'{_did_you_mean(str(tag), expected.replace(chr(39), '').split(', '))}; expected one of {expected}"
    if kind == "union_tag_not_found":
        return "record has no 'kind'; expected one of 'binary', 'proportion', 'ratio', 'pvalue', 'survival_rate'"
    if kind == "finite_number":
        return f"expected a finite number; found {_found(found)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        ctx = err.get("ctx", {})
        sym = {"greater_than_equal": "≥", "greater_than": ">",
               "less_than_equal": "≤", "less_than": "<"}[kind]
        limit = next(iter(ctx.values())) if ctx else "?"
        return f"expected a number {sym} {limit}; found {_found(found)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        ctx = err.get("ctx", {})
        n = ctx.get("min_length", 1)
        if isinstance(found, str):
            return "must not be empty"
        got = len(found) if hasattr(found, "__len__") else "?"
        return f"needs at least {n} item{'s' if n != 1 else ''}; found {got}"
    if kind == "too_long":
        return err["msg"].replace("List", "list") + f"; found {_found(found)}"
    if kind == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        if pattern.startswith("^10"):
            return f"{_found(found)} is not a DOI; write it as 10.xxxx/..., without https://doi.org/"
        if "a-f" in pattern:
            return f"{_found(found)} is not a sha256 (64 lower-case hex digits)"
        if "[a-z0-9_]" in pattern:
            return f"{_found(found)} is not an id: use lower-case letters, digits and _"
        return f"{_found(found)} is not in the expected form ({pattern})"
    if kind == "value_error":
        return err["msg"].removeprefix("Value error, ")
    if kind in _TYPE_WORDS:
        hint = ""
        if kind == "string_type" and isinstance(found, (int, float, bool)):
            hint = " (YAML read it as a number or true/false; put it in quotes)"
        if kind in ("int_type", "float_type") and isinstance(found, str) and _numeric_text(found):
            hint = " (remove the quotes around the number)"
        return f"expected {_TYPE_WORDS[kind]}; found {_found(found)}{hint}"
    return f"{err['msg']}; found {_found(found)}"


# --- whole runs -----------------------------------------------------------------


def study_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml")))
        else:
            out.append(p)
    return out


def validate_file(path: Path, sources_dir: Path | None, display: str | None = None) -> FileResult:
    display = display or str(path)
    result = FileResult(path=path)
    try:
        located = load_file(path)
    except YamlInputError as exc:
        result.messages.append(Message(display, exc.line, exc.col, ERROR, "", exc.message))
        return result
    result.located = located
    checker = _Checker(path, display, located, sources_dir)
    study = checker.schema()
    if study is not None:
        checker.check_study(study)
        result.study = study
    else:
        for i, rec in checker.partial_records():
            checker.check_record(i, rec, None, None, {})
    result.messages.extend(checker.messages)
    return result


def check_duplicates(files: list[FileResult]) -> None:
    """Two files sharing a DOI, registration or source must declare their overlap."""
    seen: dict[tuple[str, str], FileResult] = {}
    for fr in files:
        s = fr.study
        if s is None:
            continue
        keys: list[tuple[str, str, tuple]] = []
        if s.citation.doi:
            keys.append(("DOI", s.citation.doi.lower(), ("citation", "doi")))
        for i, reg in enumerate(s.registrations):
            keys.append(("trial registration", reg.upper(), ("registrations", i)))
        for i, src in enumerate(s.sources):
            keys.append(("source document", src.sha256, ("sources", i, "sha256")))
        reported: set[str] = set()
        for what, key, path in keys:
            other = seen.get((what, key))
            if other is fr:
                continue  # the same value twice within one file
            if other is None:
                seen[(what, key)] = fr
                continue
            o = other.study
            assert o is not None
            declared = {x.study for x in s.overlaps}
            declared_back = {x.study for x in o.overlaps}
            if o.id in declared or s.id in declared_back or (o.id, what) in reported:
                continue
            if o.id == s.id:
                msg = f"study id '{s.id}' is also used by {other.path}"
            else:
                msg = (f"shares its {what} ({key[:20]}{'…' if len(key) > 20 else ''}) with "
                       f"{other.path.name} (study '{o.id}'); if both report one cohort, "
                       f"declare it under 'overlaps' so it is never counted twice")
            assert fr.located is not None
            line, col = fr.located.where(path)
            fr.messages.append(Message(str(fr.path), line, col, ERROR, dotted(path), msg))
            reported.add((o.id, what))  # type: ignore[arg-type]


def validate_paths(paths: list[Path], sources_dir: Path | None = None) -> Report:
    files = study_files(paths)
    if sources_dir is None:
        sources_dir = default_sources_dir(paths)
    results = [validate_file(p, sources_dir) for p in files]
    check_duplicates(results)
    return Report(files=results)
