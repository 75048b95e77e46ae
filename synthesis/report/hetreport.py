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
from ..fmt import pct as _pct
from ..fmt import sig as _sig
from ..pipeline import AnalysisFit
from ..priors import DEFAULT_HALF_NORMAL_SCALE as DEFAULT_TAU_PRIOR_SCALE

#: moderators read from the study files: name -> (kind, description)
MODERATORS: dict[str, tuple[str, str]] = {
    "age_group": ("categorical", "population.age_group (paediatric/adult/mixed)"),
    "car_target": ("categorical", "population.car_targets, joined (e.g. CD19+CD22)"),
    "centres": ("categorical", "design.centres (single/multi)"),
    "outcome": ("categorical", "the record's outcome (PFS/EFS/LFS within a family)"),
    "adjusted": ("categorical", "adjusted (multivariable) or unadjusted estimate"),
    "year": ("continuous", "citation.year"),
    "median_age": ("continuous", "population.median_age (years)"),
    "share_children": ("continuous", "population.share_children (%)"),
    "n_centres": ("continuous", "design.n_centres"),
}


@dataclass(frozen=True)
class HetOptions:
    moderators: tuple[str, ...] | None = None  # None: every moderator the data support
    common_tau2: bool = False
    allow_missing: bool = False
    tau_prior_scale: float | None = None  # None: DEFAULT_TAU_PRIOR_SCALE for the measure


class HetInputError(ValueError):
    pass


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


def reading(d: dict[str, Any], bt: dict[str, Any], measure: str) -> str:
    """A plain-language reading of the heterogeneity statistics that respects k."""
    k = d["k"]
    if k == 0:
        return "No study reports an estimate for this analysis."
    if k == 1:
        return ("k = 1: a single cohort. Heterogeneity between cohorts cannot be assessed, "
                "and the estimate is that study's own.")
    parts = []
    if k == 2:
        parts.append(
            f"k = 2: τ² cannot be estimated reliably (τ² = {d['tau2']:.3g}, 95% CI "
            f"{_sig(d['tau2_ci_lb'])} to {_sig(d['tau2_ci_ub'])}); the HKSJ interval is wide by "
            f"construction (t with 1 df). Cochran's Q (p = {d['q_pval']:.2g}) has almost no power "
            f"with two studies, so a large p is not evidence that the cohorts agree.")
    else:
        lo, hi = d.get("i2_ci_lb"), d.get("i2_ci_ub")
        i2 = d["i2_tau2"] if d["i2_tau2"] is not None else d["i2"]
        span = ""
        if lo is not None and hi is not None:
            span = (f" The 95% CI for I², {lo:.0f}% to {hi:.0f}%, "
                    + ("is compatible with anything from no to substantial heterogeneity."
                       if lo < 25 and hi > 50 else
                       "points to substantial heterogeneity." if lo >= 50 else
                       "is narrow enough to rule out large inconsistency." if hi < 40 else
                       "leaves the amount of heterogeneity uncertain."))
        few = f"With only {k} studies these statistics are imprecise. " if k < 5 else ""
        parts.append(f"{few}I² = {i2:.0f}% (τ² = {d['tau2']:.3g}, Q p = {d['q_pval']:.2g}).{span}")
    if bt.get("pi_lb") is not None:
        null = measures.get(measure).null
        crosses = null is not None and bt["pi_lb"] < null < bt["pi_ub"]
        parts.append(
            f"The effect in a new cohort like these could lie between {bt['pi_lb']:.2f} and "
            f"{bt['pi_ub']:.2f} (95% prediction interval)"
            + (", which includes no effect." if crosses else "."))
    elif k >= 2:
        note = (d.get("pi_note") or "too few studies").removeprefix("no prediction interval: ")
        parts.append(f"No prediction interval: {note}.")
    return " ".join(parts)


@dataclass
class HetSection:
    analysis_id: str
    title: str
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def analyse(fit: AnalysisFit, studies: dict[str, Any], options: HetOptions = HetOptions(),
            draw: bool = True) -> HetSection:
    """Heterogeneity section of one analysis (numbers, reading, and its plots as bytes)."""
    from .. import heterogeneity as het
    from ..bayes import bayes_random_effects

    a, data, main = fit.analysis, fit.data, fit.main
    out = HetSection(a.id, a.title)
    if main is None:
        out.data = {"k": 0, "reading": reading({"k": 0}, {}, a.measure)}
        return out
    d = main.to_dict()
    bt = d["backtransformed"]
    sec: dict[str, Any] = {
        "k": d["k"], "measure": a.measure, "method": d["method"],
        "q": d["q"], "q_df": d["q_df"], "q_pval": d["q_pval"],
        "i2": d["i2"], "i2_tau2": d["i2_tau2"], "i2_ci": [d["i2_ci_lb"], d["i2_ci_ub"]],
        "tau2": d["tau2"], "tau2_ci": [d["tau2_ci_lb"], d["tau2_ci_ub"]],
        "tau": d["tau"], "tau_ci": [math.sqrt(x) if x is not None else None
                                    for x in (d["tau2_ci_lb"], d["tau2_ci_ub"])],
        "h2": d["h2"], "h2_ci": [d["h2_ci_lb"], d["h2_ci_ub"]],
        "pi": [d["pi_lb"], d["pi_ub"]], "pi_backtransformed": [bt["pi_lb"], bt["pi_ub"]],
        "reading": reading(d, bt, a.measure),
    }
    ok = np.isfinite(main.yi)
    yi, vi = main.yi[ok], main.vi[ok]
    labels = [lab for lab, good in zip(main.study, ok) if good]
    contribs = [c for c, good in zip(data.contributions, ok) if good]
    k = int(ok.sum())
    settings = main.settings
    if k >= 3 and settings.random:
        loo = het.leave_one_out(yi, vi, settings, labels)
        sec["leave_one_out"] = _records(loo)
        inf = het.influence(yi, vi, settings.method, study=labels)
        sec["influence"] = _records(inf)
        sec["outliers"] = [r["study"] for r in sec["influence"] if r["outlier"]]
        sec["influential"] = [r["study"] for r in sec["influence"] if r["influential"]]
        bj = het.baujat(yi, vi)
        if draw:
            out.files[f"{a.id}/leave_one_out.png"] = _loo_png(a, loo, main)
            out.files[f"{a.id}/baujat.png"] = _baujat_png(a, bj, labels)
    elif k >= 2:
        sec["leave_one_out_note"] = f"leave-one-out and influence need k ≥ 3 (k = {k})"
    if k >= 2:
        years = [studies[c.study_id].citation.year for c in contribs]
        cum = het.cumulative(yi, vi, years, settings, labels)
        sec["cumulative_by_year"] = _records(cum)
    # subgroups and meta-regression on moderators
    wanted = options.moderators or tuple(MODERATORS)
    sec["subgroups"], sec["meta_regression"], sec["moderator_notes"] = [], [], []
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
        keep = np.array([v is not None for v in values])
        vals = [v for v in values if v is not None]
        if missing and len(missing) < len(values):
            sec["moderator_notes"].append(f"{name}: missing for {', '.join(missing)}"
                                          + (" (run on the rest)" if options.allow_missing else ""))
        if kind == "categorical":
            levels = sorted({str(v) for v in vals})
            if len(levels) < 2 or len(vals) < 3:
                continue
            sg = het.subgroups(yi[keep], vi[keep], vals, settings, name, options.common_tau2)
            sec["subgroups"].append(sg.to_dict())
        else:
            if len(set(vals)) < 2 or len(vals) < 4:
                if options.moderators:
                    sec["moderator_notes"].append(
                        f"{name}: meta-regression needs at least 4 studies with 2+ distinct "
                        f"values (have {len(vals)})")
                continue
            X, names = het.design_matrix([float(x) for x in vals], name)
            mr = het.meta_regression(yi[keep], vi[keep], X, names,
                                     settings.method if settings.random else "FE",
                                     knha=settings.ci_type != "wald")
            sec["meta_regression"].append({"moderator": name, **mr.to_dict()})
            if draw:
                out.files[f"{a.id}/bubble_{name}.png"] = _bubble_png(a, mr, name)
    # Bayesian random effects: informative even with 2-3 studies
    scale = options.tau_prior_scale or DEFAULT_TAU_PRIOR_SCALE.get(a.measure)
    if k >= 1 and scale is None:
        sec["bayes_note"] = (f"no Bayesian model: there is no default τ prior on the {a.measure} "
                             f"scale; choose one with --tau-prior SCALE")
    elif k >= 1:
        b = bayes_random_effects(yi, vi, tau_prior_scale=scale)
        bd = b.to_dict()
        ni = main.ni[ok] if main.ni is not None else None
        m = measures.get(main.measure)
        # medians and interval ends transform monotonically; means and sds do not
        bd["backtransformed"] = {
            p: {key: float(m.backtransform([bd[p][key]], ni)[0])
                for key in ("median", "lower", "upper")}
            for p in ("mu", "theta")
        }
        sec["bayes"] = bd
    out.data = sec
    return out


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


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    from ..plots import FILE_METADATA

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, metadata=FILE_METADATA["png"])
    plt.close(fig)
    return buf.getvalue()


def _loo_png(a, loo, main) -> bytes:
    import matplotlib.pyplot as plt

    n = len(loo)
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * n + 1.4))
    m = measures.get(main.measure)
    est = m.backtransform(loo["estimate"], main.ni)
    lo = m.backtransform(loo["ci_lb"], main.ni)
    hi = m.backtransform(loo["ci_ub"], main.ni)
    for i in range(n):
        ax.plot([lo[i], hi[i]], [i, i], color="0.2", lw=1)
        ax.plot([est[i]], [i], "s", color="0.2", ms=5)
    full = main.backtransformed()
    ax.axvline(full["estimate"], color="0.5", ls="--", lw=0.8)
    ax.set_yticks(range(n))
    ax.set_yticklabels([f"without {s}" for s in loo["omitted"]])
    ax.set_ylim(n - 0.5, -0.5)
    if m.ratio:
        ax.set_xscale("log")
    ax.set_title(f"Leave-one-out: {a.title}", fontsize=9)
    ax.set_xlabel("pooled estimate without the study (dashed: all studies)")
    fig.tight_layout()
    return _png(fig)


def _baujat_png(a, bj, labels) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    qx, iy = bj["q_contribution"].to_numpy(), bj["influence"].to_numpy()
    ax.scatter(qx, iy, color="0.2")
    # name only the studies that stand out: labels of a crowded corner overlap
    score = qx / max(qx.max(), 1e-300) + iy / max(iy.max(), 1e-300)
    named = set(np.argsort(-score)[:5]) if len(labels) > 6 else set(range(len(labels)))
    for i in sorted(named):
        ax.annotate(labels[i], (qx[i], iy[i]), textcoords="offset points", xytext=(4, 4),
                    fontsize=7)
    ax.set_xlabel("contribution to Q")
    ax.set_ylabel("influence on the pooled estimate")
    ax.set_title(f"Baujat plot: {a.title}", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _bubble_png(a, mr, name) -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    mr.plot(ax=ax, column=1, label=MODERATORS[name][1])
    ax.set_title(f"Meta-regression on {name}: {a.title}", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def markdown(sections: list[dict[str, Any]], title: str) -> str:
    lines = [f"# Heterogeneity across cohorts — {title}", "",
             "Generated by `carsynth heterogeneity` (also by `carsynth build`).", ""]
    for s in sections:
        d = s["data"]
        lines += [f"## {s['title']}", "", d.get("reading", ""), ""]
        if d.get("k", 0) >= 2:
            lines.append(f"- Q = {d['q']:.2f}, df = {d['q_df']:.0f}, p = {d['q_pval']:.3g}; "
                         f"I² = {d['i2']:.0f}% (Higgins–Thompson), {_pct(d['i2_tau2'])} (τ²-based, "
                         f"95% CI {_pct(d['i2_ci'][0])} to {_pct(d['i2_ci'][1])})")
            lines.append(f"- τ² = {_sig(d['tau2'])} (95% CI {_sig(d['tau2_ci'][0])} to {_sig(d['tau2_ci'][1])}); "
                         f"τ = {_sig(d['tau'])}; H² = {_sig(d['h2'])}")
        if d.get("outliers"):
            lines.append(f"- outliers (|studentized residual| > 1.96): {', '.join(d['outliers'])}")
        if d.get("influential"):
            lines.append(f"- influential (metafor's criteria): {', '.join(d['influential'])}")
        for sg in d.get("subgroups", []):
            lv = "; ".join(f"{x['level']} (k = {x['k']}): {x['estimate']:.3f}" for x in sg["levels"])
            lines.append(f"- subgroups by {sg['moderator']}: {lv}; test for differences "
                         f"Q = {sg['q_between']:.2f}, df = {sg['df']}, p = {sg['pval']:.3g}")
        for mr in d.get("meta_regression", []):
            slope = mr["coefficients"][1]
            lines.append(f"- meta-regression on {mr['moderator']}: slope {slope['estimate']:.4f} "
                         f"(95% CI {slope['ci_lb']:.4f} to {slope['ci_ub']:.4f}), QM p = "
                         f"{mr['qm_pval']:.3g}, R² = {_pct(mr['r2'])}")
        for note in d.get("moderator_notes", []):
            lines.append(f"- note: {note}")
        if "bayes" in d:
            bayes = d["bayes"]
            mu, theta = bayes["backtransformed"]["mu"], bayes["backtransformed"]["theta"]
            tau = bayes["tau"]
            lines.append(
                f"- Bayesian random effects ({bayes['prior']['tau']} prior on τ, "
                f"{bayes['prior']['mu']} on μ): μ = {mu['median']:.3f} (95% CrI "
                f"{mu['lower']:.3f} to {mu['upper']:.3f}); τ = {tau['median']:.3f} "
                f"(95% CrI {tau['lower']:.3f} to {tau['upper']:.3f}); "
                f"new cohort {theta['lower']:.3f} to {theta['upper']:.3f}")
        if "bayes_note" in d:
            lines.append(f"- {d['bayes_note']}")
        lines.append("")
    return "\n".join(lines) + "\n"
