"""The two binomial GLMMs (see :mod:`synthesis.glmm`) and their result type."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import chi2, norm

from .. import effects
from ..errors import CarsynthError
from .likelihood import Design, Objective, maximise

GLMM_MEASURES = ("PLO", "OR")
N_AGQ = 7  # metafor's and lme4's default number of quadrature points
TAU0_SNAP = 1e-10  # τ̂ is reported as 0 when the likelihood at 0 is this close


def _inverse_diagonal(info: np.ndarray, i: int) -> float:
    """(info⁻¹)ᵢᵢ by a Cholesky solve, without forming the inverse: with info = L Lᵀ,
    eᵢᵀ info⁻¹ eᵢ = |L⁻¹ eᵢ|². Raises LinAlgError unless info is positive definite."""
    chol = np.linalg.cholesky(info)
    e = np.zeros(len(info))
    e[i] = 1.0
    u = np.linalg.solve(chol, e)
    return float(u @ u)


class GlmmError(CarsynthError, ValueError):
    """Data for which the GLMM has no finite maximum-likelihood estimate."""


@dataclass(frozen=True)
class GlmmFit:
    """A fitted binomial GLMM; estimates on the analysis (logit / log OR) scale.

    ``loglik`` is the marginal log-likelihood (binomial coefficients
    included; lme4's ``logLik``); ``loglik_fe`` the same at τ² = 0 and
    ``loglik_sat`` the saturated model's. ``i2``/``h2`` are metafor's
    τ²-based values; ``qe_*`` metafor's ``QE.Wld``/``QE.LRT``.
    """

    measure: str
    model: str
    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    level: float
    tau2: float
    loglik: float
    loglik_fe: float
    loglik_sat: float
    qe_wald: float
    qe_wald_p: float
    qe_lrt: float
    qe_lrt_p: float
    qe_df: int
    vt: float
    i2: float
    h2: float
    converged: bool
    n_agq: int
    used: tuple[int, ...]
    excluded: tuple[tuple[int, str], ...] = ()
    notes: tuple[tuple[str, str], ...] = field(default=())

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    def to_dict(self) -> dict[str, Any]:
        def f(x):
            return float(x) if x is not None and math.isfinite(x) else None

        out: dict[str, Any] = {
            "measure": self.measure, "model": self.model, "method": "GLMM", "k": self.k,
            "level": self.level, "n_agq": self.n_agq, "converged": self.converged,
        }
        for key in ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "loglik",
                    "loglik_fe", "loglik_sat", "qe_wald", "qe_wald_p", "qe_lrt", "qe_lrt_p",
                    "vt", "i2", "h2"):
            out[key] = f(getattr(self, key))
        out["tau"] = f(self.tau)
        out["qe_df"] = self.qe_df
        out["used"] = list(self.used)
        out["excluded"] = [{"index": i, "reason": r} for i, r in self.excluded]
        out["notes"] = [{"code": c, "message": m} for c, m in self.notes]
        return out


# -- data preparation ------------------------------------------------------------


def _check_counts(name: str, events, n) -> tuple[np.ndarray, np.ndarray]:
    y, m = np.asarray(events, float), np.asarray(n, float)
    if y.shape != m.shape or y.ndim != 1:
        raise GlmmError(f"{name}: events and totals must be equal-length lists")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(m))):
        raise GlmmError(f"{name}: events and totals must be finite numbers")
    if np.any(y < 0) or np.any(y != np.round(y)) or np.any(m != np.round(m)):
        raise GlmmError(f"{name}: events and totals must be whole numbers ≥ 0")
    if np.any(m < 1) or np.any(y > m):
        raise GlmmError(f"{name}: each total must be ≥ 1 and ≥ its events")
    return y, m


def _typical_variance(vi: np.ndarray) -> float:
    """Higgins & Thompson's (2002, eq. 9) typical within-study variance (k−1)Σw/[(Σw)²−Σw²]."""
    w = 1 / vi
    return float((w.size - 1) * w.sum() / (w.sum() ** 2 - (w ** 2).sum()))


def _wald_q(yi: np.ndarray, vi: np.ndarray) -> float:
    """Wald test of equal effects with unadjusted variances (the saturated model's)."""
    w = 1 / vi
    return float((w * (yi - (w * yi).sum() / w.sum()) ** 2).sum())


# -- the two models -----------------------------------------------------------------


def glmm_proportion(events, n, level: float = 0.95, n_agq: int = N_AGQ) -> GlmmFit:
    """Random-intercept logistic model for single proportions (metafor ``measure="PLO"``).

    Stijnen, Hamza & Özdemir 2010, Stat Med 29:3046 (the binomial-normal
    model, section 3.1); Schwarzer et al. 2019, Res Synth Methods 10:476.
    """
    y, m = _check_counts("proportions", events, n)
    k = y.size
    if k < 2:
        raise GlmmError(f"a GLMM needs at least 2 studies; found {k}")
    if np.all(y == 0) or np.all(y == m):
        which = "no events" if np.all(y == 0) else "only events"
        raise GlmmError(f"every study has {which}: the GLMM has no finite estimate "
                        f"(the maximum-likelihood proportion is {0 if np.all(y == 0) else 1})")
    d = Design(y[:, None], m[:, None], np.ones(1), np.ones(1), has_alpha=False)
    es = effects.proportion(y, m, "PLO")
    x0_fe = np.array([math.log((y.sum() + 0.5) / (m.sum() - y.sum() + 0.5))])
    return _fit(d, "PLO", "random-intercept logistic (binomial-normal)", es, x0_fe, level,
                n_agq, tuple(range(k)), ())


def glmm_odds_ratio(event_e, n_e, event_c, n_c, level: float = 0.95,
                    n_agq: int = N_AGQ) -> GlmmFit:
    """Unconditional GLMM with fixed study effects for 2×2 tables (metafor ``model="UM.FS"``).

    Jackson et al. 2018, Stat Med 37:1059 (model 4, with ±1/2 coding of the
    random treatment effect); Stijnen, Hamza & Özdemir 2010, section 3.2.
    """
    a, n1 = _check_counts("treatment group", event_e, n_e)
    c, n2 = _check_counts("control group", event_c, n_c)
    if a.size != c.size:
        raise GlmmError("treatment and control groups must have the same number of studies")
    b, dd = n1 - a, n2 - c
    double = ((a == 0) & (c == 0)) | ((b == 0) & (dd == 0))
    excluded = tuple((int(i), ("no events" if a[i] == 0 and c[i] == 0 else "no non-events")
                      + " in either group: no information on the OR scale (metafor drop00)")
                     for i in np.flatnonzero(double))
    keep = np.flatnonzero(~double)
    if keep.size < 2:
        raise GlmmError(f"a GLMM needs at least 2 studies with events; found {keep.size}")
    a, b, c, dd, n1, n2 = (v[keep] for v in (a, b, c, dd, n1, n2))
    if np.all((a == 0) | (dd == 0)) or np.all((b == 0) | (c == 0)):
        raise GlmmError("every study has a zero cell on the same side of its table: the "
                        "odds ratio has no finite maximum-likelihood estimate")
    d = Design(np.column_stack([a, c]), np.column_stack([n1, n2]), np.array([1.0, 0.0]),
                np.array([0.5, -0.5]), has_alpha=True)
    es = effects.binary(a, n1, c, n2, "OR")
    alpha0 = np.log((c + 0.5) / (n2 - c + 0.5))
    mu0 = float(np.sum(np.log((a + .5) * (dd + .5) / ((b + .5) * (c + .5)))) / keep.size)
    x0_fe = np.concatenate([alpha0, [mu0]])
    return _fit(d, "OR", "UM.FS (fixed study effects, random treatment effect)", es, x0_fe,
                level, n_agq, tuple(int(i) for i in keep), excluded)


def _fit(d: Design, measure: str, model: str, es, x0_fe: np.ndarray, level: float,
         n_agq: int, used: tuple[int, ...], excluded) -> GlmmFit:
    if not 0 < level < 1:
        raise GlmmError(f"level must be between 0 and 1; got {level}")
    k = d.k
    na = k if d.has_alpha else 0
    const = d.log_choose() + float(d.saturated().sum())
    # τ = 0: the ordinary logistic regression (the AGQ is exact there)
    x_fe, ll_fe, _, _, ok_fe = maximise(d, x0_fe, n_agq, fix_tau0=True)
    # τ free, started at τ = 0.5 and at τ = 2 (the likelihood is even in τ)
    best = None
    for tau0 in (0.5, 2.0):
        x, ll, _, hess, ok = maximise(d, np.concatenate([x_fe, [tau0]]), n_agq, False)
        if best is None or ll > best[1]:
            best = (x, ll, hess, ok)
    x, ll, hess, ok = best
    tau = abs(float(x[-1]))
    notes: list[tuple[str, str]] = []
    if ll_fe >= ll - TAU0_SNAP:
        # the maximum is at τ = 0: fixed-effect block of the information (lme4's RX)
        x, ll, tau = np.concatenate([x_fe, [0.0]]), ll_fe, 0.0
        _, _, hess = Objective(d, n_agq, True).derivs(x_fe)
        info = -hess
        ok = ok_fe
    else:
        info = -hess
    try:
        var = _inverse_diagonal(info, na)
    except np.linalg.LinAlgError:
        try:
            var = _inverse_diagonal(info[:na + 1, :na + 1], na)
        except np.linalg.LinAlgError:
            var = float("nan")
        notes.append(("glmm-hessian-block", "the observed information was not positive "
                      "definite; the SE ignores the uncertainty in τ"))
    est = float(x[na])
    se = math.sqrt(var) if var > 0 else float("nan")
    z = float(norm.isf((1 - level) / 2))
    zval = est / se
    qe_df = k - 1
    ll_sat_total = const
    lrt = max(0.0, -2 * ((ll_fe + const) - ll_sat_total))
    if np.all((d.y > 0) & (d.y < d.n)):
        raw = effects.ZeroCellRule(to="none")
        es_u = (effects.binary(d.y[:, 0], d.n[:, 0], d.y[:, 1], d.n[:, 1], "OR", raw)
                if d.has_alpha else effects.proportion(d.y[:, 0], d.n[:, 0], "PLO", raw))
        wald = _wald_q(es_u.yi, es_u.vi)
    else:
        wald = float("nan")
        notes.append(("glmm-wald-zero-cell", "no Wald test of heterogeneity: a study has a zero "
                      "cell, where the saturated model's Wald statistic is undefined; the "
                      "likelihood-ratio test is given"))
    vi = es.vi[np.isfinite(es.vi)]
    vt = _typical_variance(vi) if vi.size >= 2 else float("nan")
    if not ok:
        notes.append(("glmm-not-converged", "the GLMM likelihood maximisation did not converge; "
                      "the estimate is not reliable"))
    return GlmmFit(
        measure=measure, model=model, k=k, estimate=est, se=se, zval=zval,
        pval=float(2 * norm.sf(abs(zval))), ci_lb=float(est - z * se),
        ci_ub=float(est + z * se),
        level=level, tau2=tau * tau, loglik=ll + const, loglik_fe=ll_fe + const,
        loglik_sat=ll_sat_total, qe_wald=wald,
        qe_wald_p=float(chi2.sf(wald, qe_df)) if math.isfinite(wald) else float("nan"),
        qe_lrt=lrt, qe_lrt_p=float(chi2.sf(lrt, qe_df)), qe_df=qe_df, vt=vt,
        i2=100 * tau * tau / (vt + tau * tau), h2=tau * tau / vt + 1, converged=ok,
        n_agq=n_agq, used=used, excluded=excluded, notes=tuple(notes))
