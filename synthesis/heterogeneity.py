"""What to do with a fit when cohorts disagree: leave-one-out, influence, cumulative
meta-analysis, subgroups and meta-regression (the small-k Bayesian model is synthesis.bayes).

Stateless numeric functions on yi/vi arrays, each returning a small result
object with a ``summary``/``table`` DataFrame and ``to_dict()``. The formulas
follow metafor (Viechtbauer 2010; Viechtbauer & Cheung 2010 for influence) and
are checked against it in tests/test_heterogeneity.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.stats import chi2, f as f_dist, norm, t as t_dist

from .estimators import Batch, common_effect_sums, estimate_tau2
from .estimators.mods import fit_mixed, residual_q, tau2_mods
from .models import PoolSettings, fit_iv_batch, q_based_i2_h2, subgroup_q


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# --- leave-one-out and cumulative: batches of masked fits ----------------------------


def leave_one_out(yi, vi, settings: PoolSettings, study=None) -> pd.DataFrame:
    """The model refitted without each study in turn (metafor's leave1out).

    Each refit is one row of a masked batch, so it is the same computation as
    pooling that subset on its own.
    """
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = yi.size
    mask = ~np.eye(k, dtype=bool) & np.isfinite(yi)[None, :]
    fit = fit_iv_batch(np.tile(yi, (k, 1)), np.tile(vi, (k, 1)), mask, settings)
    return _batch_table(fit, study if study is not None else list(range(k)), "omitted")


def cumulative(yi, vi, order, settings: PoolSettings, study=None) -> pd.DataFrame:
    """Cumulative meta-analysis: the model refitted as studies are added in ``order``
    (e.g. publication year; ties keep the input order, as metafor's cumul)."""
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    idx = np.argsort(np.asarray(order), kind="stable")
    k = yi.size
    y, v = yi[idx], vi[idx]
    mask = np.tri(k, dtype=bool)
    fit = fit_iv_batch(np.tile(y, (k, 1)), np.tile(v, (k, 1)), mask, settings)
    names = study if study is not None else list(range(k))
    return _batch_table(fit, [names[i] for i in idx], "added")


def _batch_table(fit: dict[str, np.ndarray], names, label: str) -> pd.DataFrame:
    return pd.DataFrame({
        label: list(names), "k": fit["k"], "estimate": fit["estimate"], "se": fit["se"],
        "ci_lb": fit["ci_lb"], "ci_ub": fit["ci_ub"], "pval": fit["pval"], "q": fit["q"],
        "q_pval": fit["q_pval"], "tau2": fit["tau2"], "i2": fit["i2"],
        "i2_tau2": fit["i2_tau2"], "h2": fit["h2"],
    })


# --- meta-regression (the τ² engine is synthesis.estimators.mods) -----------------------


@dataclass
class MetaRegression:
    """Mixed-effects meta-regression (Thompson & Higgins 2002; metafor rma(mods=))."""

    names: list[str]
    coefficients: pd.DataFrame
    tau2: float
    qm: float
    qm_df: tuple[int, int | None]
    qm_pval: float
    qe: float
    qe_df: int
    qe_pval: float
    r2: float | None
    i2: float
    h2: float
    k: int
    knha: bool
    converged: bool
    x: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    yi: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    vi: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    @property
    def summary(self) -> pd.DataFrame:
        return self.coefficients

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k, "tau2": _f(self.tau2), "qm": _f(self.qm), "qm_df": list(self.qm_df),
            "qm_pval": _f(self.qm_pval), "qe": _f(self.qe), "qe_df": self.qe_df,
            "qe_pval": _f(self.qe_pval), "r2": _f(self.r2) if self.r2 is not None else None,
            "i2": _f(self.i2), "h2": _f(self.h2), "knha": self.knha, "converged": self.converged,
            "coefficients": [{k: (_f(v) if isinstance(v, float) else v) for k, v in row.items()}
                             for row in self.coefficients.to_dict("records")],
        }

    def plot(self, ax=None, column: int = 1, label: str | None = None):
        """Bubble plot: effect against the moderator, bubble area ∝ weight, with the fitted line
        (on a new figure outside pyplot when ``ax`` is None)."""
        if ax is None:
            from .drawing import new_figure

            ax = new_figure(5, 4).add_subplot()
        xcol = self.x[:, column]
        w = 1 / (self.vi + self.tau2)
        ax.scatter(xcol, self.yi, s=300 * w / w.max(), facecolor="0.85", edgecolor="0.2", zorder=3)
        if len(np.unique(xcol)) > 2:
            grid = np.linspace(xcol.min(), xcol.max(), 50)
            b = self.coefficients["estimate"].to_numpy()
            ax.plot(grid, b[0] + b[column] * grid, color="0.1")
        ax.set_xlabel(label or self.names[column])
        ax.set_ylabel("effect (analysis scale)")
        return ax


def meta_regression(yi, vi, X, names, method: str = "REML", knha: bool = False,
                    level: float = 0.95) -> MetaRegression:
    """Fit y = Xβ + u + e, u ~ N(0, τ²), e ~ N(0, vᵢ); X includes the intercept column.

    QM tests all coefficients but the intercept (χ² with m df; with Knapp–
    Hartung, F(m, k−p) on QM/m). R² is the proportional reduction of τ²
    against the intercept-only model with the same estimator (Raudenbush 2009),
    truncated at 0.
    """
    y, v, X = np.asarray(yi, float), np.asarray(vi, float), np.asarray(X, float)
    k, p = X.shape
    if k <= p:
        raise ValueError(f"meta-regression needs more studies than coefficients (k = {k}, p = {p})")
    fit = fit_mixed(y, v, X, method, knha)
    se = np.sqrt(np.diag(fit.vb))
    stat = fit.beta / se
    alpha = 1 - level
    if knha:
        df = k - p
        pval = 2 * t_dist.sf(np.abs(stat), df)
        crit = t_dist.isf(alpha / 2, df)
    else:
        pval = 2 * norm.sf(np.abs(stat))
        crit = norm.isf(alpha / 2)
    coef = pd.DataFrame({"name": names, "estimate": fit.beta, "se": se, "stat": stat,
                         "pval": pval, "ci_lb": fit.beta - crit * se, "ci_ub": fit.beta + crit * se})
    m = p - 1
    b = fit.beta[1:]
    qm = float(b @ linalg.solve(fit.vb[1:, 1:], b, assume_a="pos")) if m > 0 else 0.0
    if knha:
        qm /= m
        qm_p = float(f_dist.sf(qm, m, k - p))
        qm_df: tuple[int, int | None] = (m, k - p)
    else:
        qm_p = float(chi2.sf(qm, m))
        qm_df = (m, None)
    qe, tr_p0 = residual_q(y, v, X)
    vt = (k - p) / tr_p0
    if method == "FE":  # no τ²: Higgins & Thompson's I² and H² from Q_E (as metafor)
        i2, h2 = (float(x) for x in q_based_i2_h2(qe, k - p))
    else:
        i2 = 100 * fit.tau2 / (vt + fit.tau2)
        h2 = fit.tau2 / vt + 1
    r2 = None
    converged = fit.converged
    if method != "FE":
        tau2_0, conv_0 = tau2_mods(y, v, np.ones((k, 1)), method)  # the pooling estimator
        converged = converged and conv_0
        r2 = max(0.0, 100 * (tau2_0 - fit.tau2) / tau2_0) if tau2_0 > 0 else 0.0
    return MetaRegression(list(names), coef, fit.tau2, qm, qm_df, qm_p, qe, k - p,
                          float(chi2.sf(qe, k - p)), r2, i2, h2, k, knha, converged, X, y, v)


def design_matrix(values, name: str, reference=None) -> tuple[np.ndarray, list[str]]:
    """Intercept plus one column for a numeric moderator, or dummies for a categorical one."""
    vals = list(values)
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
        return np.column_stack([np.ones(len(vals)), np.asarray(vals, float)]), ["intrcpt", name]
    levels = sorted({str(x) for x in vals})
    ref = str(reference) if reference is not None else levels[0]
    others = [lv for lv in levels if lv != ref]
    cols = [np.ones(len(vals))] + [np.array([str(x) == lv for x in vals], float) for lv in others]
    return np.column_stack(cols), ["intrcpt"] + [f"{name}{lv}" for lv in others]


# --- influence diagnostics ---------------------------------------------------------


def influence(yi, vi, method: str = "REML", knha: bool = False, study=None) -> pd.DataFrame:
    """Case-deletion diagnostics (Viechtbauer & Cheung 2010; metafor influence.rma.uni).

    Externally studentized residuals, DFFITS, Cook's distance, covariance
    ratio, τ² and Q without the study, hat values and weights; a study is
    flagged influential as in metafor: |DFFITS| > 3√(p/(k−p)), Cook's D above
    the χ²₁ median, hat > 3p/k, or |DFBETAS| > 1. The full model and the k
    models without one study are one masked batch for the estimators that
    pool, so τ² without a study is leave-one-out's. ``converged`` is False
    where an iterative τ² estimate (of the full model or without the study)
    did not converge: the row's diagnostics are then not reliable.
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    mask = np.vstack([np.ones((1, k), dtype=bool), ~np.eye(k, dtype=bool)])
    b = Batch(np.tile(y, (k + 1, 1)), np.tile(v, (k + 1, 1)), mask)
    if method.upper() == "FE":
        tau2, conv = np.zeros(k + 1), np.ones(k + 1, dtype=bool)
    else:
        fit = estimate_tau2(b, method)
        tau2, conv = fit.tau2, fit.converged
    w = np.where(mask, 1 / (v[None, :] + tau2[:, None]), 0.0)
    sw = w.sum(axis=1)
    beta = (w * y).sum(axis=1) / sw
    s2w = np.ones(k + 1)
    if knha:  # Knapp & Hartung 2003: s² = Σw r²/(k−p), 0 below machine precision
        rss = (w * (y[None, :] - beta[:, None]) ** 2).sum(axis=1)
        df = mask.sum(axis=1) - 1
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / df)
    vb = s2w / sw
    hat = w[0] / sw[0]
    weight = 100 * hat
    b_full, vb_full = beta[0], vb[0]
    tau2_del, b_del, vb_del, s2w_del = tau2[1:], beta[1:], vb[1:], s2w[1:]
    dfb = b_full - b_del
    dffits = dfb / np.sqrt(s2w_del * hat * (tau2_del + v))
    # DFBETAS: the deleted model's τ² with every study's weight (metafor's vb.del)
    vb_all = 1 / (1 / (v[None, :] + tau2_del[:, None])).sum(axis=1)
    dfbs = dfb / np.sqrt(s2w_del * vb_all)
    cook = dfb * dfb / vb_full
    cov_r = vb_del / vb_full
    resid = y - b_del
    resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
    se_resid = np.sqrt(v * s2w_del + vb_del + tau2_del * s2w_del)
    qe_del = np.maximum(0.0, common_effect_sums(b)[0][1:])
    out = pd.DataFrame({"study": list(study) if study is not None else list(range(k)),
                        "rstudent": resid / se_resid, "dffits": dffits, "cook_d": cook,
                        "cov_r": cov_r, "tau2_del": tau2_del, "qe_del": qe_del, "hat": hat,
                        "weight": weight, "dfbetas": dfbs,
                        "converged": conv[1:] & conv[0]})
    p = 1
    out["influential"] = ((out["dffits"].abs() > 3 * math.sqrt(p / (k - p)))
                          | (chi2.cdf(out["cook_d"], p) > 0.5) | (out["hat"] > 3 * p / k)
                          | (out["dfbetas"].abs() > 1))
    out["outlier"] = out["rstudent"].abs() > norm.isf(0.025)
    return out


def baujat(yi, vi) -> pd.DataFrame:
    """Baujat et al. (2002): each study's contribution to Q (x) against its influence on
    the common-effect estimate, (μ̂ − μ̂₍₋ᵢ₎)² / Var(μ̂₍₋ᵢ₎) (y), as metafor's baujat()."""
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    w = 1 / v
    mu = (w * y).sum() / w.sum()
    x = w * (y - mu) ** 2
    ys = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        wi = w[keep]
        mu_i = (wi * y[keep]).sum() / wi.sum()
        ys.append((mu - mu_i) ** 2 / (1 / wi.sum()))
    return pd.DataFrame({"q_contribution": x, "influence": ys})


# --- subgroups -----------------------------------------------------------------------


@dataclass
class SubgroupResult:
    moderator: str
    table: pd.DataFrame  # per level: k, estimate, se, ci, tau2
    q_between: float
    df: int
    pval: float
    common_tau2: bool

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def to_dict(self) -> dict[str, Any]:
        return {"moderator": self.moderator, "q_between": _f(self.q_between), "df": self.df,
                "pval": _f(self.pval), "common_tau2": self.common_tau2,
                "levels": [{k: (_f(v) if isinstance(v, float) else v) for k, v in r.items()}
                           for r in self.table.to_dict("records")]}


def subgroups(yi, vi, groups, settings: PoolSettings, moderator: str = "subgroup",
              common_tau2: bool = False) -> SubgroupResult:
    """Pooled estimate per level and the test for subgroup differences.

    By default each subgroup has its own τ² (as RevMan and Borenstein et al.
    2009, ch. 19); the test is Cochran's Q across the subgroup estimates with
    weights 1/SE². With ``common_tau2`` the between-study variance is
    estimated once from the mixed-effects model with the subgroup factor and
    the test is that model's QM.
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    labels = [str(g) for g in groups]
    levels = sorted(set(labels))
    if common_tau2:
        X, names = design_matrix(labels, moderator)
        mr = meta_regression(y, v, X, names, settings.method if settings.random else "FE",
                             knha=False, level=settings.level)
        rows = []
        for lv in levels:
            sel = np.array([g == lv for g in labels])
            w = 1 / (v[sel] + mr.tau2)
            est = float((w * y[sel]).sum() / w.sum())
            se = math.sqrt(1 / w.sum())
            z = norm.isf((1 - settings.level) / 2)
            rows.append({"level": lv, "k": int(sel.sum()), "estimate": est, "se": se,
                         "ci_lb": est - z * se, "ci_ub": est + z * se, "tau2": mr.tau2})
        return SubgroupResult(moderator, pd.DataFrame(rows), mr.qm, mr.qm_df[0], mr.qm_pval, True)
    rows = []
    for lv in levels:
        sel = np.array([g == lv for g in labels])
        fit = fit_iv_batch(y[None, sel], v[None, sel], None, settings)
        rows.append({"level": lv, "k": int(sel.sum()), "estimate": float(fit["estimate"][0]),
                     "se": float(fit["se"][0]), "ci_lb": float(fit["ci_lb"][0]),
                     "ci_ub": float(fit["ci_ub"][0]), "tau2": float(fit["tau2"][0])})
    tab = pd.DataFrame(rows)
    qb, df, pval = subgroup_q(tab["estimate"], tab["se"])
    return SubgroupResult(moderator, tab, qb, df, pval, False)
