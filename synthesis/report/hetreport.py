"""The heterogeneity report (`carsynth heterogeneity`, also part of `carsynth build`).

Do cohorts disagree, and why?

For each analysis of the review plan: Q, I² with its CI, τ² and τ with
Q-profile CIs, H², the prediction interval and a plain-language reading that
respects k; leave-one-out, influence diagnostics, a Baujat plot and a
cumulative meta-analysis by year; subgroups by the moderators found in the
study files; meta-regression on continuous moderators; and a Bayesian
random-effects model that stays informative with 2–3 studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import measures
from ..errors import EXIT_USAGE, CarsynthError
from ..moderators import MODERATORS
from ..pipeline import AnalysisFit
from .hettext import markdown, reading  # noqa: F401  (the report's words)
from ..priors import DEFAULT_HALF_NORMAL_SCALE as DEFAULT_TAU_PRIOR_SCALE


@dataclass(frozen=True)
class HetOptions:
    moderators: tuple[str, ...] | None = None  # None: every moderator the data support
    common_tau2: bool = False
    allow_missing: bool = False
    tau_prior_scale: float | None = None  # None: DEFAULT_TAU_PRIOR_SCALE for the measure


class HetInputError(CarsynthError, ValueError):
    """A moderator or option the data cannot support (exit 2)."""

    exit_code = EXIT_USAGE


def moderator_value(name: str, study, record) -> Any:
    if name == "age_group":
        return study.population.age_group
    if name == "car_target":
        return "+".join(sorted(study.population.car_targets))
    if name == "centres":
        return study.design.centres
    if name == "outcome":
        return record.outcome.upper()
    if name == "adjusted":
        adj = getattr(record, "adjusted", None)
        return None if adj is None else ("adjusted" if adj else "unadjusted")
    if name == "year":
        return study.citation.year
    if name == "median_age":
        return study.population.median_age
    if name == "share_children":
        return study.population.share_children
    if name == "n_centres":
        return study.design.n_centres
    raise HetInputError(f"unknown moderator '{name}'; moderators are: {', '.join(MODERATORS)}")


@dataclass
class HetSection:
    analysis_id: str
    title: str
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


#: below this many studies no study is labelled an outlier or influential
MIN_K_INFLUENCE_LABELS = 5


def _reader(values, measure: str, ni=None) -> list[float | None]:
    out = measures.get(measure).backtransform(np.asarray(values, float), ni)
    return [float(x) if math.isfinite(x) else None for x in np.atleast_1d(out)]


def on_reader_scale(row: dict[str, Any], measure: str, ni=None) -> dict[str, Any]:
    """``row`` with estimate/ci/pi on the reader's scale; the originals under
    ``analysis_scale`` (with the name of that scale)."""
    keys = [k for k in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub") if k in row]
    vals = [row[k] if row[k] is not None else float("nan") for k in keys]
    out = dict(row)
    out["analysis_scale"] = {"scale": measures.get(measure).scale,
                             **{k: row[k] for k in keys}, **({"se": row["se"]} if "se" in row
                                                             else {})}
    out.pop("se", None)
    out.update(zip(keys, _reader(vals, measure, ni)))
    return out


def _model_label(main) -> str:
    if main.method == "GLMM":
        return "binomial GLMM (ML)"
    return f"{main.method} {'random effects' if main.settings.random else 'common effect'}"


def _diagnostic_settings(main):
    """The inverse-variance settings for leave-one-out, influence, cumulative and
    subgroups: the plan's, or for a GLMM the default random-effects model."""
    from dataclasses import replace

    from ..constants import DEFAULTS

    if main.method == "GLMM":
        return replace(main.settings, method=DEFAULTS.method), (
            f"Leave-one-out, influence, cumulative and subgroup analyses use the inverse-"
            f"variance {DEFAULTS.method} model on the {measures.get(main.measure).scale} scale "
            f"(the GLMM's sensitivity fit).")
    return main.settings, ""


def analyse(fit: AnalysisFit, studies: dict[str, Any], options: HetOptions = HetOptions(),
            draw: bool = True) -> HetSection:
    """Heterogeneity section of one analysis (numbers, reading, and its plots as bytes)."""
    from .. import heterogeneity as het
    from ..bayes import bayes_random_effects
    from .hetplots import baujat_png, bubble_png, loo_png

    a, data, main = fit.analysis, fit.data, fit.main
    out = HetSection(a.id, a.title)
    if main is None:
        out.data = {"k": 0, "measure": a.measure, "reading": reading({"k": 0}, {}, a.measure)}
        return out
    pm = main.measure  # the pooled measure (RATIO for hazard ratios)
    d = main.to_dict()
    bt = d["backtransformed"]
    k = d["k"]
    sec: dict[str, Any] = {
        "k": k, "measure": a.measure, "method": d["method"],
        "scale": measures.get(pm).scale_note,
        "estimate_label": ("single study, not pooled" if k == 1 else "pooled proportion"
                           if measures.get(pm).proportion else
                           f"pooled {measures.get(a.measure).name.lower()}"),
        "model_label": _model_label(main),
        "estimate": bt["estimate"], "ci_lb": bt["ci_lb"], "ci_ub": bt["ci_ub"],
        "analysis_scale": {"scale": measures.get(pm).scale, "estimate": d["estimate"],
                           "se": d["se"], "ci_lb": d["ci_lb"], "ci_ub": d["ci_ub"],
                           "pi_lb": d["pi_lb"], "pi_ub": d["pi_ub"]},
        "reading": reading(d, bt, a.measure),
    }
    if k >= 2:
        sec.update({
            "q": d["q"], "q_df": d["q_df"], "q_pval": d["q_pval"],
            "q_label": ("likelihood-ratio test against the saturated model" if d["method"] == "GLMM"
                        else "Cochran's Q"),
            "i2": d["i2"], "i2_label": "Higgins–Thompson I² = (Q − df)/Q",
            "i2_tau2": d["i2_tau2"], "i2_tau2_label": "τ²-based I² = τ²/(τ² + s²) (metafor's I²)",
            "i2_ci": [d["i2_ci_lb"], d["i2_ci_ub"]], "i2_ci_of": "the τ²-based I²",
            "tau2": d["tau2"], "tau2_ci": [d["tau2_ci_lb"], d["tau2_ci_ub"]],
            "tau": d["tau"], "tau_ci": [math.sqrt(x) if x is not None else None
                                        for x in (d["tau2_ci_lb"], d["tau2_ci_ub"])],
            "h2": d["h2"], "h2_ci": [d["h2_ci_lb"], d["h2_ci_ub"]],
            "pi_backtransformed": [bt["pi_lb"], bt["pi_ub"]],
        })
    sec["sensitivity"] = [
        {"label": s.label, **{key: s.result.backtransformed()[key]
                              for key in ("estimate", "ci_lb", "ci_ub")}}
        for s in getattr(fit, "sensitivity", ())]
    ok = np.isfinite(main.weights) & np.isfinite(main.yi)
    yi, vi = main.yi[ok], main.vi[ok]
    ni = main.ni[ok] if main.ni is not None else None
    labels = [lab for lab, good in zip(main.study, ok) if good]
    contribs = [c for c, good in zip(data.contributions, ok) if good]
    settings, diag_note = _diagnostic_settings(main)
    if diag_note and k >= 2:
        sec["diagnostics_note"] = diag_note
    if k >= 3 and settings.random:
        loo = [on_reader_scale(r, pm, ni) for r in _records(
            het.leave_one_out(yi, vi, settings, labels))]
        sec["leave_one_out"] = loo
        inf = _records(het.influence(yi, vi, settings.method, study=labels))
        if k >= MIN_K_INFLUENCE_LABELS:
            sec["outliers"] = [r["study"] for r in inf if r["outlier"]]
            sec["influential"] = [r["study"] for r in inf if r["influential"]]
        else:
            for r in inf:
                r.pop("outlier", None), r.pop("influential", None)
            sec["influence_note"] = (
                f"no study is labelled an outlier or influential with k = {k}: with fewer than "
                f"{MIN_K_INFLUENCE_LABELS} studies each one is a large share of the data and the "
                f"criteria (studentized residuals, Cook's distance, DFFITS) are not reliable; the "
                f"diagnostics are in heterogeneity.json and the leave-one-out plot")
        sec["influence"] = inf
        bj = het.baujat(yi, vi)
        if draw:
            full = {"estimate": bt["estimate"]}
            out.files[f"{a.id}/leave_one_out.png"] = loo_png(
                a.title, a.measure, loo, full,
                f"{settings.method} random effects, inverse variance; dashed line: "
                + ("the GLMM with all studies" if diag_note else "all studies"))
            out.files[f"{a.id}/baujat.png"] = baujat_png(
                a.title, bj["q_contribution"].to_numpy(), bj["influence"].to_numpy(), labels)
    elif k == 2:
        sec["leave_one_out_note"] = "leave-one-out and influence need k ≥ 3 (k = 2)"
    if k >= 2:
        years = [studies[c.study_id].citation.year for c in contribs]
        cum = het.cumulative(yi, vi, years, settings, labels)
        sec["cumulative_by_year"] = [on_reader_scale(r, pm, ni) for r in _records(cum)]
    _moderators(sec, out, a, yi, vi, ni, contribs, studies, settings, options, draw, pm)
    _bayes(sec, yi, vi, ni, k, a.measure, pm, options, bayes_random_effects)
    out.data = sec
    return out


def _moderators(sec, out, a, yi, vi, ni, contribs, studies, settings, options, draw, pm):
    """Subgroups (categorical) and meta-regression (continuous), each with its reason where
    it is not run: every moderator the plan could use is accounted for."""
    from .. import heterogeneity as het
    from .hetplots import bubble_png

    wanted = options.moderators or tuple(MODERATORS)
    sec["subgroups"], sec["meta_regression"], sec["moderator_notes"] = [], [], []
    skipped: list[str] = []
    k = len(contribs)
    if k < 2:  # nothing varies across one study
        return
    for name in wanted:
        kind = MODERATORS[name][0] if name in MODERATORS else None
        if kind is None:
            raise HetInputError(f"unknown moderator '{name}'; moderators are: "
                                f"{', '.join(MODERATORS)}")
        if name in ("adjusted",) and a.select.kind != "ratio":
            continue  # not a property of counts or proportions
        if name == "outcome" and len({c.record.outcome for c in contribs}) < 2:
            continue
        values = [moderator_value(name, studies[c.study_id], c.record) for c in contribs]
        missing = [c.label for c, v in zip(contribs, values) if v is None]
        if missing and options.moderators and not options.allow_missing:
            raise HetInputError(
                f"{a.id}: moderator '{name}' is missing for {', '.join(missing)}; "
                f"add it to those study files, or pass --allow-missing to run on the rest")
        keep = np.array([v is not None for v in values], dtype=bool)
        vals = [v for v in values if v is not None]
        if missing and len(missing) < len(values):
            sec["moderator_notes"].append(f"{name}: missing for {', '.join(missing)}"
                                          + (" (run on the rest)" if options.allow_missing else ""))
        if kind == "categorical":
            levels = sorted({str(v) for v in vals})
            if len(levels) < 2:
                if levels and k >= 2:
                    skipped.append(f"{name} (every study: {levels[0]})")
                continue
            if len(vals) < 3:
                skipped.append(f"{name} (k = {len(vals)}; subgroups need at least 3 studies)")
                continue
            sg = het.subgroups(yi[keep], vi[keep], vals, settings, name, options.common_tau2)
            sgd = sg.to_dict()
            ni_keep = ni[keep] if ni is not None else None
            sgd["levels"] = [on_reader_scale(x, pm, ni_keep) for x in sgd["levels"]]
            single = [str(x["level"]) for x in sgd["levels"] if x["k"] < 2]
            if single:
                sgd["q_between"] = sgd["df"] = sgd["pval"] = None
                sgd["test_note"] = (
                    f"no test for subgroup differences: {', '.join(single)} "
                    f"{'has only one study' if len(single) == 1 else 'have one study each'}, so "
                    f"a difference between levels cannot be told from a difference between studies")
            sec["subgroups"].append(sgd)
        else:
            if len(set(vals)) < 2 or len(vals) < 4:
                skipped.append(f"{name} (meta-regression needs at least 4 studies with 2+ "
                               f"distinct values; have {len(vals)})")
                continue
            X, names = het.design_matrix([float(x) for x in vals], name)
            mr = het.meta_regression(yi[keep], vi[keep], X, names, settings.method
                                     if settings.random else "FE",
                                     knha=settings.ci_type != "wald")
            mrd = {"moderator": name, **mr.to_dict()}
            slope = mrd["coefficients"][1]
            m = measures.get(pm)
            if m.ratio or m.scale == "logit":
                what = ("ratio of " + measures.get(a.measure).name.lower() + "s" if m.ratio
                        else "odds ratio") + " per unit"
                conv = [math.exp(slope[x]) for x in ("estimate", "ci_lb", "ci_ub")]
            else:
                what, conv = f"change in {m.name.lower()} per unit", [
                    slope[x] for x in ("estimate", "ci_lb", "ci_ub")]
            mrd["slope"] = {"label": what, "estimate": conv[0], "ci_lb": conv[1],
                            "ci_ub": conv[2], "analysis_scale": {
                                key: slope[key] for key in ("estimate", "ci_lb", "ci_ub")}}
            sec["meta_regression"].append(mrd)
            if draw:
                out.files[f"{a.id}/bubble_{name}.png"] = bubble_png(
                    a.title, mr, name, MODERATORS[name][1], pm)
    if skipped:
        sec["moderator_notes"].append("not analysed: " + "; ".join(skipped))


def _bayes(sec, yi, vi, ni, k, measure, pm, options, bayes_random_effects):
    """Bayesian random effects for k ≥ 2 (with one study τ's posterior is its prior)."""
    scale = options.tau_prior_scale or DEFAULT_TAU_PRIOR_SCALE.get(measure)
    if k == 1:
        sec["bayes_note"] = ("no Bayesian model with one study: the posterior of τ would be its "
                             "prior, not a result")
    elif k >= 2 and scale is None:
        sec["bayes_note"] = (f"no Bayesian model: there is no default τ prior on the {measure} "
                             f"scale; choose one with --tau-prior SCALE")
    elif k >= 2:
        bd = bayes_random_effects(yi, vi, tau_prior_scale=scale).to_dict()
        m = measures.get(pm)
        # medians and interval ends transform monotonically; means and sds do not
        bd["backtransformed"] = {
            p: {key: float(m.backtransform([bd[p][key]], ni)[0])
                for key in ("median", "lower", "upper")}
            for p in ("mu", "theta")
        }
        sec["bayes"] = bd


def _records(df) -> list[dict[str, Any]]:
    out = []
    for row in df.to_dict("records"):
        clean = {}
        for key, val in row.items():
            if isinstance(val, (np.floating, float)):
                clean[key] = float(val) if math.isfinite(val) else None
            elif isinstance(val, (np.integer,)):
                clean[key] = int(val)
            elif isinstance(val, (np.bool_,)):
                clean[key] = bool(val)
            else:
                clean[key] = val
        out.append(clean)
    return out
