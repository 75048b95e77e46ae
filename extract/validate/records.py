"""Arithmetic and reference checks of outcome records (mixed into the study checker)."""

from __future__ import annotations

import math
from typing import Any

from .. import numbers as num
from ..schema import (
    BinaryRecord,
    Group,
    ProportionRecord,
    PValueRecord,
    RatioRecord,
    Stratum,
    SurvivalRateRecord,
    parse_p,
)
from .messages import ERROR, WARNING, clip, did_you_mean

# Ratios and CI limits beyond these are not something a paper prints; the rounding checks
# (logs, products, exact fractions) are skipped for them rather than overflow.
_RATIO_MIN, _RATIO_MAX = 1e-12, 1e12


def compatible_counts(percent_text: str, total: int) -> list[int]:
    """Every event count k with k/total printing as ``percent_text`` at its precision.

    88% of 194 allows 170 (87.63%) and 171 (88.14%). Uses the same rounding rule as the
    percentage check (:func:`extract.numbers.percent_consistent`).
    """
    try:
        p = num.printed(percent_text)
    except ValueError:
        return []
    lo = max(0, math.floor(p.lo * total / 100) - 1)
    hi = min(total, math.ceil(p.hi * total / 100) + 1)
    if hi - lo > 10_000:  # a percentage this coarse pins nothing down; not worth listing
        return []
    return [k for k in range(lo, hi + 1) if num.percent_consistent(k, total, percent_text)]


class RecordChecks:
    """Checks of one record against its groups, strata and cohort size."""

    def _group_ref(self, path: tuple, gid: str | None, group_ids: set[str]) -> None:
        if gid is None or gid in group_ids:
            return
        hint = did_you_mean(gid, group_ids, loose=True)
        known = clip(", ".join(sorted(group_ids)) or "none are defined", 120)
        self.add(ERROR, path, f"unknown group '{clip(gid, 40)}'{hint}; groups are: {known}")

    def check_record(self, i: int, rec: Any, group_ids: set[str] | None,
                     cohort: int | None, groups: dict[str, Group],
                     strata: dict[str, Stratum] | None = None) -> None:
        base = ("records", i)
        if getattr(rec, "exposure", None) == "other" and not getattr(rec, "exposure_label", None):
            self.add(ERROR, base + ("exposure_label",),
                     "exposure 'other' needs an exposure_label naming the covariate")
        for key in rec.derived:
            if get_path(rec, key) is MISSING:
                self.add(ERROR, base + ("derived", key),
                         f"'derived' names '{clip(key, 40)}', which is not a field of this record")
        if rec.review == "pending":
            self.add(WARNING, base + ("review",),
                     "review: pending, a drafted record nobody has checked yet; analyses do not "
                     "pool it until it says review: accepted")
        comparator = getattr(rec, "comparator", None)
        if comparator is not None:
            self.check_comparator(base + ("comparator",), comparator)
        stratum = None
        if rec.stratum is not None and strata is not None:
            stratum = strata.get(rec.stratum)
            if stratum is None:
                hint = did_you_mean(rec.stratum, strata, loose=True)
                known = clip(", ".join(sorted(strata)) or "none are defined", 120)
                self.add(ERROR, base + ("stratum",),
                         f"unknown stratum '{clip(rec.stratum, 40)}'{hint}; strata are: {known}")
        if isinstance(rec, BinaryRecord):
            for arm_name in ("exposed", "reference"):
                arm = getattr(rec, arm_name)
                apath = base + (arm_name,)
                if group_ids is not None:
                    self._group_ref(apath + ("group",), arm.group, group_ids)
                self._events_total(apath, arm.events, arm.total, arm.percent, cohort,
                                   arm.events_range)
                g = groups.get(arm.group)
                if g is not None and g.n is not None and arm.total > g.n:
                    self.add(WARNING, apath + ("total",),
                             f"total {arm.total} exceeds the size of group '{g.id}' (n = {g.n})")
            if rec.exposed.group == rec.reference.group:
                self.add(ERROR, base + ("reference", "group"),
                         "exposed and reference arms name the same group")
            both = rec.exposed.total + rec.reference.total
            if cohort is not None and both > cohort:
                self.add(ERROR, base + ("reference", "total"),
                         f"the two arms hold {both} patients, more than the cohort ({cohort})")
            if stratum is not None and both > stratum.n:
                self.add(ERROR, base + ("reference", "total"),
                         f"the two arms hold {both} patients, more than stratum "
                         f"'{stratum.id}' (n = {stratum.n})")
        elif isinstance(rec, ProportionRecord):
            if group_ids is not None:
                self._group_ref(base + ("group",), rec.group, group_ids)
            self._events_total(base, rec.events, rec.total, rec.percent, cohort, rec.events_range)
            if stratum is not None and rec.total > stratum.n:
                self.add(ERROR, base + ("total",),
                         f"total {rec.total} exceeds the size of stratum '{stratum.id}' "
                         f"(n = {stratum.n})")
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

    def check_comparator(self, path: tuple, comparator: Any) -> None:
        if comparator.kind == "external_trial" and not comparator.registration:
            self.add(ERROR, path + ("kind",),
                     "an external_trial comparator needs the trial's registration "
                     "(comparator.registration, e.g. NCT02435849)")
        if comparator.kind == "historical" and not comparator.description:
            self.add(WARNING, path + ("kind",),
                     "a historical comparator should say which cohort (comparator.description)")

    def _events_total(self, path: tuple, events: int, total: int, percent: float | None,
                      cohort: int | None, events_range: list[int] | None = None) -> None:
        if events > total:
            self.add(ERROR, path + ("events",), f"events ({events}) exceed the total ({total})")
            return
        if total == 0:
            self.add(ERROR, path + ("total",), "total must be at least 1")
            return
        if cohort is not None and total > cohort:
            self.add(ERROR, path + ("total",), f"total {total} exceeds the cohort size {cohort}")
        if events_range is not None:
            self._events_range(path, events, total, percent, events_range)
        if percent is not None:
            text = self.raw(path + ("percent",)) or repr(percent)
            try:
                consistent = num.percent_consistent(events, total, text)
            except ValueError:  # '0x10', '1_0': reported by the number-in-quote check
                return
            if not consistent:
                exact = 100 * events / total
                self.add(
                    WARNING,
                    path + ("percent",),
                    f"printed {clip(text, 20)}% does not match {events}/{total} = {exact:.4g}% "
                    f"at the printed precision" + self._recorded(path + ("percent",)),
                )

    def _events_range(self, path: tuple, events: int, total: int, percent: float | None,
                      events_range: list[int]) -> None:
        rpath = path + ("events_range",)
        if percent is None:
            self.add(ERROR, rpath, "events_range is for a count derived from a rounded "
                                   "percentage: give the printed percent too")
            return
        lo, hi = events_range
        if not lo <= events <= hi:
            self.add(ERROR, path + ("events",),
                     f"events {events} lie outside events_range [{lo}, {hi}]")
            return
        text = self.raw(path + ("percent",)) or repr(percent)
        allowed = compatible_counts(text, total)
        if allowed and [lo, hi] != [allowed[0], allowed[-1]]:
            self.add(ERROR, rpath,
                     f"{clip(text, 20)}% of {total} allows {allowed[0]} to {allowed[-1]} "
                     f"events; write events_range: [{allowed[0]}, {allowed[-1]}]")

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
        for name in ("estimate", "ci_lower", "ci_upper"):
            v = getattr(rec, name)
            if v is not None and not _RATIO_MIN <= v <= _RATIO_MAX:
                self.add(ERROR, base + (name,),
                         f"a ratio of {v:.6g} is outside the range a paper prints "
                         f"({_RATIO_MIN:g} to {_RATIO_MAX:g}); check the value")
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
        try:
            self._ratio_rounding(base, rec, t_est, t_lo, t_hi)
        except (ValueError, ArithmeticError):
            pass  # a number not written in plain digits: the number-in-quote check says so

    def _ratio_rounding(self, base: tuple, rec: RatioRecord, t_est: str, t_lo: str,
                        t_hi: str) -> None:
        ok, c_lo, c_hi = num.ratio_centre_consistent(t_est, t_lo, t_hi)
        if not ok:
            self.add(
                WARNING,
                base + ("estimate",),
                f"{rec.measure} {clip(t_est, 20)} is not the geometric centre of its CI "
                f"({clip(t_lo, 20)}-{clip(t_hi, 20)}, centre {c_lo:.3g}-{c_hi:.3g} allowing "
                f"for rounding); a typo, or a CI not from a Wald test"
                + self._recorded(base + ("estimate",)),
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
                    f"p = {clip(p_text, 20)} does not match the CI: a Wald test on "
                    f"{clip(t_est, 20)} ({clip(t_lo, 20)}-{clip(t_hi, 20)}) gives p between "
                    f"{r_lo:.2g} and {r_hi:.2g} (Altman & Bland 2011)"
                    + self._recorded(base + ("p",)),
                )


MISSING = object()


def get_path(obj: Any, dotted_path: str) -> Any:
    """The value at 'exposed.events' in a model, or MISSING when it is not a field."""
    for part in dotted_path.split("."):
        if not hasattr(obj, part) or part not in type(obj).model_fields:
            return MISSING
        obj = getattr(obj, part)
    return obj
