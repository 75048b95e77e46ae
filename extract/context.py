"""What a record means in the context of its study: its CRS/ICANS grading scale, the
intent of its exposure and where its comparison group comes from."""

from __future__ import annotations

from .schema import TOXICITY_GRADES, Arm, Comparator, Group, PValueRecord, Study


def grading_scale(study: Study, rec) -> str | None:
    """The CRS/ICANS grading scale of a record: its own, else the study's for its toxicity."""
    tox = TOXICITY_GRADES.get(rec.outcome, (None,))[0]
    if tox is None:
        exposure = getattr(rec, "exposure", "") or ""
        tox = "crs" if exposure.startswith("crs") else ("icans" if exposure.startswith("icans")
                                                         else None)
    if tox is None:
        return None
    if rec.grading_scale is not None:
        return rec.grading_scale
    if study.grading is None:
        return None
    return getattr(study.grading, tox)


def _group(study: Study, gid: str | None) -> Group | None:
    return next((g for g in study.groups if g.id == gid), None)


def intent_of(study: Study, rec) -> str | None:
    """Why the exposure was given: the record's own intent, else its exposed group's."""
    if rec.intent is not None:
        return rec.intent
    exposed = getattr(rec, "exposed", None)
    gid = exposed.group if isinstance(exposed, Arm) else (
        exposed if isinstance(exposed, str) else getattr(rec, "group", None))
    g = _group(study, gid)
    if g is None and isinstance(rec, PValueRecord):
        g = next((x for x in (_group(study, i) for i in rec.groups) if x and x.exposed), None)
    return g.intent if g is not None else None


def comparator_of(study: Study, rec) -> Comparator:
    """Where a record's comparison group comes from (concurrent unless stated)."""
    own = getattr(rec, "comparator", None)
    if own is not None:
        return own
    ref = getattr(rec, "reference", None)
    gid = ref.group if isinstance(ref, Arm) else (ref if isinstance(ref, str) else None)
    g = _group(study, gid)
    if g is None and isinstance(rec, PValueRecord):
        g = next((x for x in (_group(study, i) for i in rec.groups) if x and not x.exposed), None)
    if g is not None and g.comparator is not None:
        return g.comparator
    return Comparator()
