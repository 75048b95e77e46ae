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
from scipy import optimize
from scipy.stats import chi2, f as f_dist, norm, t as t_dist

from .models import PoolSettings, fit_iv_batch


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


# --- a general mixed-effects model (intercept + moderators) --------------------------


@dataclass
class MixedFit:
    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    s2w: float  # Knapp-Hartung factor (1 without KH)
    w: np.ndarray
    converged: bool


def _p_matrix(X, w):
    W = np.diag(w)
    xtwx_inv = np.linalg.inv(X.T @ W @ X)
    return W - W @ X @ xtwx_inv @ X.T @ W, xtwx_inv


def _tau2_mods(y, v, X, method: str, tol=1e-12, maxiter=1000) -> tuple[float, bool]:
    """τ² for a model with moderators (metafor rma.uni's estimators, matrix form)."""
    k, p = X.shape
    if method == "FE":
        return 0.0, True
    # Hedges/HE start (unweighted residuals)
    P_ols = np.eye(k) - X @ np.linalg.inv(X.T @ X) @ X.T
    rss = float(y @ P_ols @ y)
    tau2_he = max(0.0, (rss - float(np.trace(P_ols @ np.diag(v)))) / (k - p))
    if method == "HE":
        return tau2_he, True
    if method == "SJ":
        # Sidik & Jonkman 2005 as metafor: τ₀² = var(y)(k−1)/k, then one weighted step
        tau0 = float(np.var(y))
        if tau0 <= 0:
            return 0.0, True
        P, _ = _p_matrix(X, 1 / (v + tau0))
        return max(0.0, tau0 * float(y @ P @ y) / (k - p)), True
    if method == "DL":
        P, _ = _p_matrix(X, 1 / v)
        q = float(y @ P @ y)
        return max(0.0, (q - (k - p)) / float(np.trace(P))), True
    if method in ("REML", "ML"):
        tau2 = tau2_he
        for _ in range(maxiter):
            w = 1 / (v + tau2)
            P, _ = _p_matrix(X, w)
            Py = P @ y
            if method == "REML":
                adj = (float(Py @ Py) - float(np.trace(P))) / float(np.sum(P * P))
            else:
                adj = (float(Py @ Py) - float(w.sum())) / float((w * w).sum())
            while tau2 + adj < 0:
                adj /= 2
            new = tau2 + adj
            if abs(new - tau2) <= tol * max(1.0, new):
                return new, True
            tau2 = new
        return tau2, False
    if method in ("PM", "EB"):
        def q_gen(t):
            P, _ = _p_matrix(X, 1 / (v + t))
            return float(y @ P @ y) - (k - p)
        if q_gen(0.0) <= 0:
            return 0.0, True
        hi = 1.0
        while q_gen(hi) > 0:
            hi *= 4
        return float(optimize.brentq(q_gen, 0.0, hi, xtol=tol, rtol=1e-15)), True
    raise ValueError(f"meta-regression supports FE, DL, HE, SJ, REML, ML, PM, EB; got {method}")


def _fit_mixed(y, v, X, method: str, knha: bool) -> MixedFit:
    tau2, conv = _tau2_mods(y, v, X, method)
    w = 1 / (v + tau2)
    _, vb = _p_matrix(X, w)
    beta = vb @ X.T @ (w * y)
    s2w = 1.0
    k, p = X.shape
    if knha:
        rss = float((w * (y - X @ beta) ** 2).sum())
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
    return MixedFit(beta, vb * s2w, tau2, s2w, w, conv)


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
        """Bubble plot: effect against the moderator, bubble area ∝ weight, with the fitted line."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 4))
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
    fit = _fit_mixed(y, v, X, method, knha)
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
    qm = float(b @ np.linalg.inv(fit.vb[1:, 1:]) @ b) if m > 0 else 0.0
    if knha:
        qm /= m
        qm_p = float(f_dist.sf(qm, m, k - p))
        qm_df: tuple[int, int | None] = (m, k - p)
    else:
        qm_p = float(chi2.sf(qm, m))
        qm_df = (m, None)
    P0, _ = _p_matrix(X, 1 / v)
    qe = max(0.0, float(y @ P0 @ y))
    vt = (k - p) / float(np.trace(P0))
    i2 = 100 * fit.tau2 / (vt + fit.tau2)
    h2 = fit.tau2 / vt + 1
    r2 = None
    if method != "FE":
        tau2_0, _ = _tau2_mods(y, v, np.ones((k, 1)), method)
        r2 = max(0.0, 100 * (tau2_0 - fit.tau2) / tau2_0) if tau2_0 > 0 else 0.0
    return MetaRegression(list(names), coef, fit.tau2, qm, qm_df, qm_p, qe, k - p,
                          float(chi2.sf(qe, k - p)), r2, i2, h2, k, knha, fit.converged, X, y, v)


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
    the χ²₁ median, hat > 3p/k, or |DFBETAS| > 1.
    """
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    k = y.size
    X = np.ones((k, 1))
    full = _fit_mixed(y, v, X, method, knha)
    w = full.w
    hat = w / w.sum()
    weight = 100 * hat
    pred_full = float(full.beta[0])
    svb = 1 / full.vb[0, 0]
    rows = []
    for i in range(k):
        keep = np.arange(k) != i
        res = _fit_mixed(y[keep], v[keep], X[keep], method, knha)
        tau2_del = res.tau2
        P0, _ = _p_matrix(X[keep], 1 / v[keep])
        qe_del = max(0.0, float(y[keep] @ P0 @ y[keep]))
        delpred = float(res.beta[0])
        vdelpred = float(res.vb[0, 0])
        dffits = (pred_full - delpred) / math.sqrt(res.s2w * hat[i] * (tau2_del + v[i]))
        vb_del = 1 / (1 / (v + tau2_del)).sum()
        dfb = pred_full - delpred
        dfbs = dfb / math.sqrt(res.s2w * vb_del)
        cook = dfb * svb * dfb
        cov_r = float(res.vb[0, 0] / full.vb[0, 0])
        resid = y[i] - delpred
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        se_resid = math.sqrt(v[i] * res.s2w + vdelpred + tau2_del * res.s2w)
        rows.append({"study": study[i] if study is not None else i, "rstudent": resid / se_resid,
                     "dffits": dffits, "cook_d": cook, "cov_r": cov_r, "tau2_del": tau2_del,
                     "qe_del": qe_del, "hat": hat[i], "weight": weight[i], "dfbetas": dfbs})
    out = pd.DataFrame(rows)
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
    est, se = tab["estimate"].to_numpy(), tab["se"].to_numpy()
    w = 1 / se**2
    mu = (w * est).sum() / w.sum()
    qb = float((w * (est - mu) ** 2).sum())
    df = len(levels) - 1
    return SubgroupResult(moderator, tab, qb, df, float(chi2.sf(qb, df)) if df > 0 else 1.0, False)
