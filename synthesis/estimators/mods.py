"""τ² and the fit of a model with moderators: y = Xβ + u + e, u ~ N(0, τ²), e ~ N(0, vᵢ).

One τ² engine. With p = 1 (X the intercept column) every estimator is the
batched one that ``pool`` uses (synthesis.estimators), so leave-one-out,
influence, subgroups and meta-regression agree with ``pool`` to the last bit.
With moderators the same estimators in matrix form (metafor's rma.uni,
Viechtbauer 2010), with the same guarantees: every iterative estimate is
bracketed, so it converges or says that it did not.

  DL  (Q_E − (k−p)) / tr P₀, P₀ at w = 1/v            (DerSimonian & Laird 1986; Raudenbush 2009)
  HE  (RSS_OLS − tr(P_OLS V)) / (k−p)                   (Hedges 1983)
  SJ  τ₀² · yᵀP(τ₀²)y / (k−p), τ₀² = Σ(y−ȳ)²/k          (Sidik & Jonkman 2005)
  PM, EB  the root of yᵀP(τ²)y = k − p                    (Paule & Mandel 1982; Morris 1983)
  ML, REML  the global maximum of the (restricted) likelihood on τ² ≥ 0: a
      log-spaced scan, then Brent's method on the score inside the bracket
      around the best point (Viechtbauer 2005, eqs. 8–11; Harville 1977).
      Plain Fisher scoring, metafor's choice, can oscillate or stop at a
      local maximum.

P = W − WX(XᵀWX)⁻¹XᵀW is never formed: yᵀPy is the weighted residual sum of
squares of the weighted least-squares fit, and tr P = Σw − tr((XᵀWX)⁻¹XᵀW²X)
by a Cholesky solve. Nothing is inverted explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from . import estimate_tau2
from .batch import DEFAULT_MAXITER, DEFAULT_TOL, Batch

_XTOL = 1e-14  # absolute bracket width for the Brent solves, times max(1, τ²)


@dataclass(frozen=True)
class MixedFit:
    """A fitted mixed-effects model (``vb`` already scaled by the Knapp–Hartung ``s2w``)."""

    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    s2w: float  # Knapp–Hartung factor (1 without KH)
    w: np.ndarray
    converged: bool


def intercept_only(X: np.ndarray) -> bool:
    return X.shape[1] == 1 and bool(np.all(X == 1.0))


class WeightedLS:
    """The weighted least-squares quantities of y on X at weights w = 1/(v + τ²)."""

    def __init__(self, y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float):
        self.w = w = 1 / (v + tau2)
        A = X.T @ (w[:, None] * X)
        self.chol = linalg.cho_factor(A)
        self.beta = linalg.cho_solve(self.chol, X.T @ (w * y))
        self.resid = y - X @ self.beta
        self.X = X

    @property
    def rss(self) -> float:
        """yᵀPy = Σ w (y − Xβ̂)²."""
        return float(self.w @ self.resid**2)

    def trace_p(self) -> float:
        """tr P = Σw − tr((XᵀWX)⁻¹ XᵀW²X)."""
        B = self.X.T @ ((self.w**2)[:, None] * self.X)
        return float(self.w.sum() - np.trace(linalg.cho_solve(self.chol, B)))

    def cov_beta(self) -> np.ndarray:
        return linalg.cho_solve(self.chol, np.eye(self.X.shape[1]))

    def logdet_a(self) -> float:
        return 2.0 * float(np.log(np.diag(self.chol[0])).sum())


def residual_q(y, v, X) -> tuple[float, float]:
    """(Q_E, tr P₀): the residual heterogeneity statistic at τ² = 0 and the trace it is
    compared with (for DL, I² and H²)."""
    fit = WeightedLS(y, v, X, 0.0)
    return max(0.0, fit.rss), fit.trace_p()


def _score(y, v, X, t: float, reml: bool) -> float:
    """Twice the (restricted) likelihood score at τ² = t: Σw²r² − tr P (REML) or − Σw (ML)."""
    f = WeightedLS(y, v, X, t)
    return float((f.w * f.resid) @ (f.w * f.resid)) - (f.trace_p() if reml else float(f.w.sum()))


def _loglik(y, v, X, t: float, reml: bool) -> float:
    """The (restricted) log-likelihood with β profiled out, up to a constant."""
    f = WeightedLS(y, v, X, t)
    ll = -0.5 * float(np.log(v + t).sum()) - 0.5 * f.rss
    return ll - 0.5 * f.logdet_a() if reml else ll


def _ml(y, v, X, reml: bool, maxiter: int) -> tuple[float, bool]:
    k, p = X.shape
    upper = max(10 * float(np.var(y)) * k / max(k - p, 1), 10 * float(v.max()), 1e-8)
    grid = np.concatenate([[0.0], np.geomspace(upper * 1e-8, upper, 200)])
    ll = np.array([_loglik(y, v, X, t, reml) for t in grid])
    j = int(np.argmax(ll))
    while j == grid.size - 1 and grid[-1] < 1e12 * upper:  # still rising: look further out
        more = grid[-1] * np.array([2.0, 4.0, 8.0])
        grid = np.concatenate([grid, more])
        ll = np.concatenate([ll, [_loglik(y, v, X, t, reml) for t in more]])
        j = int(np.argmax(ll))
    if j == grid.size - 1:
        return float(grid[j]), False
    lo, hi = grid[max(j - 1, 0)], grid[j + 1]
    s_lo, s_hi = _score(y, v, X, lo, reml), _score(y, v, X, hi, reml)
    if lo == 0.0 and s_lo <= 0 and j == 0:
        return 0.0, True  # the maximum is on the boundary
    if s_lo > 0 > s_hi:
        root, res = optimize.brentq(lambda t: _score(y, v, X, t, reml), lo, hi,
                                    xtol=_XTOL * max(1.0, hi), rtol=4 * np.finfo(float).eps,
                                    maxiter=maxiter, full_output=True, disp=False)
        return float(root), bool(res.converged)
    res = optimize.minimize_scalar(lambda t: -_loglik(y, v, X, t, reml), bounds=(lo, hi),
                                   method="bounded",
                                   options={"xatol": _XTOL * max(1.0, hi), "maxiter": maxiter})
    best = float(res.x) if -res.fun >= ll[j] else float(grid[j])
    return best, bool(res.success)


def _pm(y, v, X, maxiter: int) -> tuple[float, bool]:
    k, p = X.shape

    def excess(t: float) -> float:
        return WeightedLS(y, v, X, t).rss - (k - p)

    if excess(0.0) <= 0:
        return 0.0, True
    hi = max(1.0, float(np.var(y)))
    for _ in range(200):
        if excess(hi) < 0:
            break
        hi *= 4
    else:
        return hi, False
    root, res = optimize.brentq(excess, 0.0, hi, xtol=_XTOL * max(1.0, hi),
                                rtol=4 * np.finfo(float).eps, maxiter=maxiter,
                                full_output=True, disp=False)
    return float(root), bool(res.converged)


def tau2_mods(y, v, X, method: str, tol: float = DEFAULT_TOL,
              maxiter: int = DEFAULT_MAXITER) -> tuple[float, bool]:
    """(τ², converged) of the model with design matrix ``X`` (intercept included)."""
    y, v, X = np.asarray(y, float), np.asarray(v, float), np.asarray(X, float)
    method = method.upper()
    k, p = X.shape
    if method == "FE":
        return 0.0, True
    if intercept_only(X):  # the estimators that pool
        fit = estimate_tau2(Batch(y[None, :], v[None, :]), method, tol, maxiter)
        return float(fit.tau2[0]), bool(fit.converged[0])
    if method == "DL":
        q, tr = residual_q(y, v, X)
        return max(0.0, (q - (k - p)) / tr), True
    if method == "HE":
        beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        rss = float(((y - X @ beta) ** 2).sum())
        chol = linalg.cho_factor(X.T @ X)
        tr_pv = float(v.sum() - np.trace(linalg.cho_solve(chol, X.T @ (v[:, None] * X))))
        return max(0.0, (rss - tr_pv) / (k - p)), True
    if method == "SJ":
        tau0 = float(np.var(y))
        if tau0 <= 0:
            return 0.0, True
        return max(0.0, tau0 * WeightedLS(y, v, X, tau0).rss / (k - p)), True
    if method in ("PM", "EB"):  # EB's estimating equation is PM's (Viechtbauer et al. 2015)
        return _pm(y, v, X, maxiter)
    if method in ("ML", "REML"):
        return _ml(y, v, X, method == "REML", maxiter)
    raise ValueError(f"unknown τ² method {method!r}; expected FE, DL, HE, SJ, PM, EB, ML or REML")


def fit_mixed(y, v, X, method: str, knha: bool = False) -> MixedFit:
    """β̂, its covariance, τ² and the Knapp–Hartung factor of the mixed-effects model."""
    y, v, X = np.asarray(y, float), np.asarray(v, float), np.asarray(X, float)
    tau2, converged = tau2_mods(y, v, X, method)
    fit = WeightedLS(y, v, X, tau2)
    k, p = X.shape
    s2w = 1.0
    if knha:  # Knapp & Hartung 2003: s² = Σw r²/(k−p), 0 below machine precision
        s2w = 0.0 if fit.rss <= np.finfo(float).eps else fit.rss / (k - p)
    return MixedFit(fit.beta, fit.cov_beta() * s2w, tau2, s2w, fit.w, converged)
