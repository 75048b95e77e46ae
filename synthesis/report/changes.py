"""What changed since the previous build: a typed change list, CHANGES.md and a short terminal table.

Pure: the previous build's per-analysis state entries and this build's go in,
text comes out. Each state entry carries the analysis' results row (``row``)
and, under ``contributions``, a snapshot of the record each study contributed
(:func:`contribution_snapshot`), so a study that was added, dropped or whose
record changed can be named with the record and the fields that changed. The
previous state is the incremental build state (``.carsynth-state.json``), not a
second copy of the outputs.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .. import measures
from ..fmt import fixed
from .escape import md

CONTRIBUTIONS_KEY = "contributions"  # the state-entry field this module reads and fills
_MAX_FIELDS = 4  # changed fields named per record; the rest are counted


@dataclass(frozen=True)
class Summary:
    """The pooled numbers of one analysis as shown to the reader (back-transformed)."""

    k: int
    estimate: float | None
    ci_lb: float | None
    ci_ub: float | None
    i2: float | None
    measure: str
    lead: str = ""  # which estimate leads (results.csv's lead_method), when the row says

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Summary:
        def num(key):
            v = row.get(key)
            return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

        return cls(int(row.get("k") or 0), num("estimate"), num("ci_lb"), num("ci_ub"), num("i2"),
                   str(row.get("measure", "")), str(row.get("lead_method") or ""))

    @property
    def digits(self) -> int:
        try:
            return measures.get(self.measure).digits
        except ValueError:  # a measure this version does not know (an old state file)
            return 2

    def estimate_text(self) -> str:
        if self.estimate is None:
            return "no estimate"
        d = self.digits
        return f"{fixed(self.estimate, d)} [{fixed(self.ci_lb, d)}, {fixed(self.ci_ub, d)}]"

    def lead_short(self) -> str:
        """The lead's name up to its first comma or semicolon ("Bayesian random effects")."""
        return self.lead.replace(";", ",").split(",")[0].strip()

    def i2_text(self) -> str:
        return "—" if self.i2 is None else f"{fixed(self.i2, 0)}%"


@dataclass(frozen=True)
class StudyChange:
    """One study's change within an analysis."""

    kind: str  # "added" | "removed" | "record replaced" | "record changed"
    label: str
    file: str
    record: str  # the record now used (the old one for "removed")
    detail: str = ""  # e.g. "events 76 → 75", or "was record os_uni"

    def text(self) -> str:
        if self.kind == "added":
            return f"added {self.label} ({self.file}, record {self.record})"
        if self.kind == "removed":
            return f"removed {self.label} ({self.file}, record {self.record})"
        if self.kind == "record replaced":
            return f"{self.label}: now record {self.record} ({self.file}; {self.detail})"
        return f"{self.label}: record {self.record} changed ({self.file}: {self.detail})"


@dataclass(frozen=True)
class AnalysisChange:
    id: str
    title: str
    status: str  # "new" | "removed" | "changed"
    old: Summary | None
    new: Summary | None
    studies: tuple[StudyChange, ...] = ()

    @property
    def results_changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class ChangeSet:
    changes: tuple[AnalysisChange, ...]
    first_build: bool  # no previous state to compare with

    @property
    def results_changed(self) -> tuple[AnalysisChange, ...]:
        return tuple(c for c in self.changes if c.results_changed)

    def __bool__(self) -> bool:
        return bool(self.changes)


# --- the snapshot kept in the state ------------------------------------------------------


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Scalar fields of a record dump as dotted paths (``exposed.events``); quotes left out."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "quotes":
                continue
            out.update(_flat(v, f"{prefix}{k}."))
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            out[prefix[:-1]] = value
        else:
            for i, v in enumerate(value):
                out.update(_flat(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = value
    return out


def contribution_snapshot(contributions: Iterable[Any]) -> list[dict[str, Any]]:
    """What the state keeps of each contributing record, for the next build's comparison.

    ``contributions`` are :class:`synthesis.select.Contribution` objects (any
    object with ``study_id, label, file, record`` where ``record`` is a pydantic
    model). JSON-able by construction.
    """
    out = []
    for c in contributions:
        dump = c.record.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(dump, sort_keys=True, ensure_ascii=False)
                                .encode()).hexdigest()
        out.append({"study": c.study_id, "label": c.label, "file": c.file,
                    "record": c.record.id, "digest": digest, "values": _flat(dump)})
    return out


# --- comparing two builds ----------------------------------------------------------------


def _show(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return "[" + ", ".join(map(_show, v)) + "]"
    text = str(v)
    return text if len(text) <= 40 else text[:39] + "…"


def _field_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
    if not keys:
        return "quotes or wording changed, no value"
    parts = [f"{k} {_show(old.get(k))} → {_show(new.get(k))}" for k in keys[:_MAX_FIELDS]]
    if len(keys) > _MAX_FIELDS:
        parts.append(f"and {len(keys) - _MAX_FIELDS} more field(s)")
    return ", ".join(parts)


def _study_changes(old: list[Mapping[str, Any]] | None,
                   new: list[Mapping[str, Any]]) -> tuple[StudyChange, ...]:
    if old is None:  # a state written before snapshots were kept
        return ()
    before = {c["study"]: c for c in old}
    after = {c["study"]: c for c in new}
    out: list[StudyChange] = []
    for sid, c in after.items():
        p = before.get(sid)
        if p is None:
            out.append(StudyChange("added", c["label"], c["file"], c["record"]))
        elif p["record"] != c["record"]:
            out.append(StudyChange("record replaced", c["label"], c["file"], c["record"],
                                   f"was record {p['record']}"))
        elif p["digest"] != c["digest"]:
            out.append(StudyChange("record changed", c["label"], c["file"], c["record"],
                                   _field_diff(p.get("values", {}), c.get("values", {}))))
    for sid, p in before.items():
        if sid not in after:
            out.append(StudyChange("removed", p["label"], p["file"], p["record"]))
    return tuple(out)


def diff(previous: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]],
         order: Iterable[str] | None = None) -> ChangeSet:
    """Compare the previous build's state entries with this build's, analysis by analysis.

    Entries are ``{analysis id: {"row": results row, "contributions": snapshot}}``
    (other keys are ignored). ``order`` lists analysis ids in plan order; removed
    analyses come last. An analysis appears only if its numbers or its studies changed.
    """
    ids = list(order) if order is not None else list(current)
    ids += [a for a in current if a not in ids]
    ids += [a for a in previous if a not in ids]
    changes: list[AnalysisChange] = []
    for a_id in ids:
        prev, cur = previous.get(a_id), current.get(a_id)
        if cur is None and prev is None:
            continue
        if cur is None:
            row = prev["row"]
            changes.append(AnalysisChange(a_id, str(row.get("title", a_id)), "removed",
                                          Summary.from_row(row), None))
            continue
        row = cur["row"]
        new = Summary.from_row(row)
        if prev is None:
            studies = _study_changes([], cur.get(CONTRIBUTIONS_KEY, []))
            changes.append(AnalysisChange(a_id, str(row.get("title", a_id)), "new", None, new,
                                          studies))
            continue
        old = Summary.from_row(prev["row"])
        studies = _study_changes(prev.get(CONTRIBUTIONS_KEY), cur.get(CONTRIBUTIONS_KEY, []))
        if old != new or studies:
            changes.append(AnalysisChange(a_id, str(row.get("title", a_id)), "changed", old, new,
                                          studies))
    return ChangeSet(tuple(changes), first_build=not previous)


# --- presentation ------------------------------------------------------------------------


def _lead_change(old: Summary | None, new: Summary | None, short: bool) -> str:
    """' (lead: A → B)' when the estimate that leads changed model, else ''."""
    if old is None or new is None or old.lead == new.lead or not (old.lead and new.lead):
        return ""
    a, b = (old.lead_short(), new.lead_short()) if short else (old.lead, new.lead)
    return f" (lead: {a} → {b})"


def _arrow(old: str | None, new: str | None) -> str:
    if old is None:
        return new or "—"
    if new is None:
        return f"{old} → removed"
    return new if old == new else f"{old} → {new}"


def markdown(cs: ChangeSet, title: str) -> str:
    """CHANGES.md: one table row per changed analysis, then the studies behind each change."""
    lines = [f"# Changes: {md(title)}", "",
             "Generated by `carsynth build`: what changed since the previous build of this "
             "output folder. Paste into the review's update log.", ""]
    if cs.first_build:
        lines += ["First build of this folder: every analysis is new.", ""]
    if not cs:
        return "\n".join(lines + ["No analysis changed.", ""])
    lines += ["| analysis | status | k | estimate [95% CI] | I² |", "|---|---|---|---|---|"]
    for c in cs.changes:
        old, new = c.old, c.new
        k = _arrow(str(old.k) if old else None, str(new.k) if new else None)
        est = _arrow(old.estimate_text() if old else None, new.estimate_text() if new else None)
        est += md(_lead_change(old, new, short=False))
        i2 = _arrow(old.i2_text() if old else None, new.i2_text() if new else None)
        status = c.status if c.results_changed or c.status != "changed" else "studies changed"
        lines.append(f"| {md(c.title)} (`{c.id}`) | {status} | {k} | {est} | {i2} |")
    detail = [c for c in cs.changes if c.studies and c.status == "changed"]
    if detail:
        lines += ["", "## Studies behind the changes", ""]
        for c in detail:
            lines.append(f"- `{c.id}`: " + "; ".join(md(s.text()) for s in c.studies))
    return "\n".join(lines) + "\n"


def changes_file(previous: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]],
                 order: Iterable[str], title: str, old: bytes | None) -> tuple[ChangeSet, bytes]:
    """The change set and the bytes of CHANGES.md. A build that changed nothing keeps the
    file as it was (``old``), so it always records the last change."""
    cs = diff(previous, current, order)
    if not cs and old is not None:
        return cs, old
    return cs, markdown(cs, title).encode()


def terminal_table(cs: ChangeSet, where: str, limit: int = 12) -> str:
    """A few lines for the terminal: each changed analysis, old → new, and its study changes."""
    if cs.first_build:
        n = len(cs.changes)
        return f"first build of this folder: {n} analys{'i' if n == 1 else 'e'}s listed in {where}"
    if not cs:
        return "no results changed since the previous build"
    shown = cs.changes[:limit]
    width = max(len(c.id) for c in shown)
    lines = [f"changed since the previous build (also in {where}):"]
    for c in shown:
        old, new = c.old, c.new
        if c.status == "removed":
            lines.append(f"  {c.id:<{width}}  removed from the plan")
            continue
        if c.status == "new":
            lines.append(f"  {c.id:<{width}}  new: k = {new.k}, {new.estimate_text()}, "
                         f"I² {new.i2_text()}")
            continue
        if c.results_changed:
            lines.append(f"  {c.id:<{width}}  k {_arrow(str(old.k), str(new.k))}; "
                         f"{_arrow(old.estimate_text(), new.estimate_text())}; "
                         f"I² {_arrow(old.i2_text(), new.i2_text())}"
                         f"{_lead_change(old, new, short=True)}")
        else:
            lines.append(f"  {c.id:<{width}}  same numbers; studies changed")
        for s in c.studies:
            lines.append(f"  {'':<{width}}    {s.text()}")
    if len(cs.changes) > limit:
        lines.append(f"  … and {len(cs.changes) - limit} more in {where}")
    return "\n".join(lines)
