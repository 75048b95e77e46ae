"""Bayesian random-effects meta-analysis by deterministic integration over τ (no MCMC).

Model: the normal–normal hierarchical model, yᵢ | θᵢ ~ N(θᵢ, vᵢ) and
θᵢ | μ, τ ~ N(μ, τ²), with independent priors on μ (flat, or normal) and on τ
(half-normal, or half-Cauchy). Given τ, the conditional posterior of μ is
normal, so every marginal follows from the one-dimensional posterior p(τ | y):

* p(τ | y) ∝ p(τ) · p(y | τ), where p(y | τ) is the likelihood with μ
  integrated out against its prior (Röver C. Bayesian random-effects
  meta-analysis using the bayesmeta R package. J Stat Softw 2020;93(6),
  section 2, eqs. 6–9);
* μ | y is the mixture ∫ N(μ; μ̂(τ), σ̂²(τ)) p(τ | y) dτ and a new study's θ
  the mixture with variance σ̂²(τ) + τ² (Röver 2020, section 2.4).

This is the approach of R's bayesmeta. The difference is in the numerics:
bayesmeta integrates τ with adaptive quadrature but approximates the μ and θ
mixtures on a grid of τ values chosen for a bounded error (its ``delta`` and
``epsilon`` arguments), which moves μ quantiles by about 1e-4 to 1e-3. Here one
quadrature rule serves all three: τ = c·tan(πu/2) maps u ∈ [0, 1) onto
[0, ∞), and composite Gauss–Legendre on equal panels in u integrates the
smooth, fast-decaying integrand to about machine precision (checked in the
tests by doubling the panels). Quantiles solve the exact mixture CDF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

TAU_FAMILIES = ("half-normal", "half-cauchy", "log-normal")
PARAMETERS = ("tau", "mu", "theta")

_PANELS = 64
_NODES, _NODE_WEIGHTS = np.polynomial.legendre.leggauss(16)


@dataclass(frozen=True)
class BayesPriors:
    """Priors of the normal–normal hierarchical model.

    ``tau_scale`` is the scale of the half-normal (or half-Cauchy) prior on
    τ, or the median of a log-normal one, whose ``tau_log_sd`` is the sd of
    log τ (Turner et al. 2015's priors on τ², log τ² ~ N(m, s²), are
    log-normal on τ with median exp(m/2) and log-sd s/2; see synthesis.priors);
    ``mu`` is (mean, sd) of a normal prior on μ, or None for the improper flat
    prior.
    """

    tau_scale: float = 0.5
    tau_family: str = "half-normal"
    mu: tuple[float, float] | None = None
    tau_log_sd: float | None = None

    def __post_init__(self) -> None:
        if not (self.tau_scale > 0 and math.isfinite(self.tau_scale)):
            raise ValueError(f"the τ prior scale must be a positive number; got {self.tau_scale}")
        if self.tau_family not in TAU_FAMILIES:
            raise ValueError(f"τ prior must be one of {', '.join(TAU_FAMILIES)}; "
                             f"got {self.tau_family!r}")
        if (self.tau_family == "log-normal") != (self.tau_log_sd is not None):
            raise ValueError("tau_log_sd is needed by, and only by, the log-normal τ prior")
        if self.tau_log_sd is not None and not (self.tau_log_sd > 0
                                                and math.isfinite(self.tau_log_sd)):
            raise ValueError(f"tau_log_sd must be a positive number; got {self.tau_log_sd}")
        if self.mu is not None and not self.mu[1] > 0:
            raise ValueError(f"the sd of the normal prior on μ must be positive; got {self.mu[1]}")

    def log_tau_density(self, tau: np.ndarray) -> np.ndarray:
        """Log density of the τ prior (normalised, on τ ≥ 0)."""
        s = self.tau_scale
        if self.tau_family == "half-normal":
            return math.log(2 / (s * math.sqrt(2 * math.pi))) - 0.5 * (tau / s) ** 2
        if self.tau_family == "log-normal":
            sd = self.tau_log_sd
            with np.errstate(divide="ignore"):
                z = (np.log(tau) - math.log(s)) / sd
                return -np.log(tau) - math.log(sd * math.sqrt(2 * math.pi)) - 0.5 * z * z
        return math.log(2 / (math.pi * s)) - np.log1p((tau / s) ** 2)

    def describe(self) -> dict[str, str]:
        mu = ("flat (improper uniform)" if self.mu is None
              else f"normal(mean {self.mu[0]:g}, sd {self.mu[1]:g})")
        tau = (f"log-normal(median {self.tau_scale:.4g}, sd of log τ {self.tau_log_sd:.4g})"
               if self.tau_family == "log-normal" else f"{self.tau_family}(scale {self.tau_scale:g})")
        return {"tau": tau, "mu": mu}


def log_marginal_likelihood(y: np.ndarray, v: np.ndarray, tau: np.ndarray,
                            mu_prior: tuple[float, float] | None):
    """log p(y | τ) with μ integrated out, and μ's conditional posterior mean and variance.

    Röver 2020, eqs. 6–9: with wᵢ = 1/(vᵢ + τ²), the conditional posterior of μ
    is normal with precision Σw (+ 1/s₀² under a N(m₀, s₀²) prior). Under the
    flat prior the likelihood is defined up to a constant (the prior is
    improper), which cancels in the posterior. Returns three arrays shaped like τ.
    """
    w = 1.0 / (v[None, :] + (tau * tau)[:, None])
    k = y.size
    if mu_prior is None:
        prec = w.sum(1)
        mean = (w * y).sum(1) / prec
        resid = (w * (y - mean[:, None]) ** 2).sum(1)
        logml = (-0.5 * (k - 1) * math.log(2 * math.pi) + 0.5 * np.log(w).sum(1)
                 - 0.5 * np.log(prec) - 0.5 * resid)
    else:
        m0, s0 = mu_prior
        prec = w.sum(1) + 1 / s0**2
        mean = ((w * y).sum(1) + m0 / s0**2) / prec
        resid = (w * (y - mean[:, None]) ** 2).sum(1) + (mean - m0) ** 2 / s0**2
        logml = (-0.5 * k * math.log(2 * math.pi) + 0.5 * np.log(w).sum(1)
                 - 0.5 * np.log(prec) - math.log(s0) - 0.5 * resid)
    return logml, mean, 1.0 / prec


class BayesPosterior:
    """The posterior of (μ, τ) and of a new study's θ for one meta-analysis.

    ``summary`` gives median, mean, sd and the central (equal-tailed) credible
    interval of τ, μ and θ; :meth:`interval` also gives the shortest interval,
    which is what bayesmeta prints by default.
    """

    def __init__(self, yi, vi, priors: BayesPriors = BayesPriors(), level: float = 0.95,
                 panels: int = _PANELS):
        y = np.asarray(yi, dtype=float)
        v = np.asarray(vi, dtype=float)
        if y.ndim != 1 or y.shape != v.shape or y.size < 1:
            raise ValueError("yi and vi must be 1-D arrays of the same, non-zero length")
        if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
            raise ValueError("yi must be finite and vi finite and positive")
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1; got {level}")
        self.y, self.v, self.priors, self.level, self.k = y, v, priors, level, y.size
        # The transform's scale sets where the panels fall; the prior scale is
        # a safe first choice, the posterior median a better one (it puts half
        # the mass on either side of u = 1/2), so it is found in a coarse pass.
        self._c = priors.tau_scale
        self._build(16)
        self._c = max(self.quantile("tau", 0.5), 1e-6 * priors.tau_scale)
        self._build(panels)

    # -- quadrature ------------------------------------------------------------------

    def _tau_of_u(self, u):
        return self._c * np.tan(0.5 * np.pi * u)

    def _integrand(self, u: np.ndarray):
        """Unnormalised p(τ | y)·dτ/du at u, and μ's conditional mean and variance there."""
        tau = self._tau_of_u(u)
        logml, mean, var = log_marginal_likelihood(self.y, self.v, tau, self.priors.mu)
        log_jac = math.log(0.5 * math.pi * self._c) - 2 * np.log(np.cos(0.5 * np.pi * u))
        return logml + self.priors.log_tau_density(tau) + log_jac, tau, mean, var

    def _build(self, panels: int) -> None:
        self._panels = panels
        edges = np.linspace(0.0, 1.0, panels + 1)
        half = 0.5 * np.diff(edges)
        mid = 0.5 * (edges[1:] + edges[:-1])
        u = (mid[:, None] + half[:, None] * _NODES[None, :]).ravel()
        logg, tau, mean, var = self._integrand(u)
        self._shift = float(logg.max())
        weights = (half[:, None] * _NODE_WEIGHTS[None, :]).ravel()
        mass = np.exp(logg - self._shift) * weights
        self._norm = float(mass.sum())
        self._edges = edges
        self._cum = np.concatenate([[0.0], np.cumsum(mass.reshape(panels, -1).sum(1))]) / self._norm
        self._tau, self._mass, self._mean, self._var = tau, mass / self._norm, mean, var

    def _partial(self, j: int, u: float) -> float:
        """Posterior probability of τ ≤ τ(u) for u inside panel j."""
        a = self._edges[j]
        if u <= a:
            return float(self._cum[j])
        half = 0.5 * (u - a)
        logg = self._integrand(a + half * (_NODES + 1))[0]
        return float(self._cum[j] + (np.exp(logg - self._shift) * _NODE_WEIGHTS).sum() * half
                     / self._norm)

    # -- distribution functions --------------------------------------------------------

    def _sd_nodes(self, param: str) -> np.ndarray:
        return np.sqrt(self._var + (self._tau**2 if param == "theta" else 0.0))

    def cdf(self, param: str, x: float) -> float:
        """Posterior P(param ≤ x) for param τ, μ or θ (a new study's effect)."""
        _check_param(param)
        if param == "tau":
            if x <= 0:
                return 0.0
            u = 2 / math.pi * math.atan(x / self._c)
            j = min(int(u * self._panels), self._panels - 1)
            return min(1.0, self._partial(j, u))
        sd = self._sd_nodes(param)
        return float((self._mass * special.ndtr((x - self._mean) / sd)).sum())

    def quantile(self, param: str, p: float) -> float:
        _check_param(param)
        if not 0 < p < 1:
            raise ValueError(f"p must be between 0 and 1; got {p}")
        if param == "tau":
            j = int(np.searchsorted(self._cum, p) - 1)
            j = min(max(j, 0), self._panels - 1)
            lo, hi = self._edges[j], self._edges[j + 1]
            f = lambda u: self._partial(j, u) - p  # noqa: E731
            if f(hi) <= 0:  # rounding at a panel edge
                return float(self._tau_of_u(hi))
            u = optimize.brentq(f, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
            return float(self._tau_of_u(u))
        sd = self._sd_nodes(param)
        lo = float((self._mean - 40 * sd).min())
        hi = float((self._mean + 40 * sd).max())
        return float(optimize.brentq(lambda x: self.cdf(param, x) - p, lo, hi,
                                     xtol=1e-13, rtol=4 * np.finfo(float).eps))

    def median(self, param: str) -> float:
        return self.quantile(param, 0.5)

    def moment_exists(self, order: int) -> bool:
        """Whether E[τ^order] (and so the μ, θ moments of that order) is finite.

        Always for a half-normal or log-normal prior. A half-Cauchy prior has density ~ τ⁻²,
        and p(y | τ) falls like τ^-(k−1) (flat μ prior) or τ^-k (normal μ prior),
        so the posterior moment exists only when order < 1 + that power.
        """
        if self.priors.tau_family in ("half-normal", "log-normal"):
            return True
        power = self.k - 1 if self.priors.mu is None else self.k
        return order < 1 + power

    def mean(self, param: str) -> float | None:
        _check_param(param)
        if not self.moment_exists(1):
            return None
        values = self._tau if param == "tau" else self._mean
        return float((self._mass * values).sum())

    def sd(self, param: str) -> float | None:
        _check_param(param)
        if not self.moment_exists(2):
            return None
        if param == "tau":
            m = float((self._mass * self._tau).sum())
            return math.sqrt(max(0.0, float((self._mass * self._tau**2).sum()) - m * m))
        m = float((self._mass * self._mean).sum())
        second = float((self._mass * (self._sd_nodes(param) ** 2 + self._mean**2)).sum())
        return math.sqrt(max(0.0, second - m * m))

    def interval(self, param: str, level: float | None = None,
                 kind: str = "central") -> tuple[float, float]:
        """Credible interval: ``central`` (equal tails) or ``shortest`` (highest density,
        for these unimodal posteriors)."""
        level = self.level if level is None else level
        if kind == "central":
            a = (1 - level) / 2
            return self.quantile(param, a), self.quantile(param, 1 - a)
        if kind != "shortest":
            raise ValueError(f"kind must be 'central' or 'shortest'; got {kind!r}")

        def bounds(a: float) -> tuple[float, float]:
            lo = 0.0 if (param == "tau" and a == 0) else self.quantile(param, a)
            hi = self.quantile(param, min(a + level, 1 - 1e-15))
            return lo, hi

        spare = 1 - level
        res = optimize.minimize_scalar(lambda a: -np.subtract(*bounds(a)), bounds=(0.0, spare),
                                       method="bounded", options={"xatol": 1e-12 * spare})
        # the optimum can sit on an end (τ whose density falls from 0): try both exactly
        candidates = [bounds(float(res.x))] + ([bounds(0.0)] if param == "tau" else [])
        if param != "tau":
            candidates += [bounds(spare * 1e-9), bounds(spare * (1 - 1e-9))]
        return min(candidates, key=lambda b: b[1] - b[0])

    # -- results -------------------------------------------------------------------

    @property
    def summary(self) -> pd.DataFrame:
        rows = []
        for param in PARAMETERS:
            lo, hi = self.interval(param)
            rows.append({"parameter": param, "median": self.median(param),
                         "mean": self.mean(param), "sd": self.sd(param),
                         "lower": lo, "upper": hi})
        return pd.DataFrame(rows).set_index("parameter")

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        out: dict[str, Any] = {"k": self.k, "level": self.level,
                               "interval": "central (equal-tailed)",
                               "prior": self.priors.describe()}
        for param in PARAMETERS:
            row = s.loc[param]
            out[param] = {key: (None if row[key] is None or pd.isna(row[key]) else float(row[key]))
                          for key in ("median", "mean", "sd", "lower", "upper")}
        return out

    def plot(self, ax=None, param: str = "mu", label: str | None = None):
        """Posterior density of ``param`` with its central credible interval shaded (on a new
        figure outside pyplot when ``ax`` is None)."""
        _check_param(param)
        if ax is None:
            from .drawing import new_figure

            ax = new_figure(5, 3).add_subplot()
        lo, hi = self.interval(param)
        q_lo, q_hi = self.quantile(param, 0.001), self.quantile(param, 0.999)
        x = np.linspace(0.0 if param == "tau" else q_lo, q_hi, 400)
        dens = np.gradient([self.cdf(param, xi) for xi in x], x)
        ax.plot(x, dens, color="black", lw=1.2, label=label)
        inside = (x >= lo) & (x <= hi)
        ax.fill_between(x[inside], dens[inside], color="0.8")
        ax.axvline(self.median(param), color="black", lw=0.8, ls="--")
        ax.set_xlabel({"tau": "τ", "mu": "μ", "theta": "θ (new study)"}[param])
        ax.set_ylabel("posterior density")
        ax.set_ylim(bottom=0)
        return ax


def _check_param(param: str) -> None:
    if param not in PARAMETERS:
        raise ValueError(f"parameter must be one of {', '.join(PARAMETERS)}; got {param!r}")


def bayes_random_effects(yi, vi, tau_prior_scale: float = 0.5,
                         mu_prior: tuple[float, float] | None = None, level: float = 0.95,
                         tau_prior: str = "half-normal") -> BayesPosterior:
    """Fit the Bayesian random-effects model (see the module docstring)."""
    return BayesPosterior(yi, vi, BayesPriors(tau_prior_scale, tau_prior, mu_prior), level)
