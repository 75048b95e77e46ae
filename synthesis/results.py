"""Result objects: what a fit gives back to a user or another tool."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import codes, measures
from .codes import Note
from .effects import EffectSizes
from .models import CountFit, PoolSettings, q_based_i2_h2

def critical_value(level: float, df: float | None = None) -> float:
    """Two-sided critical value at ``level``: t with ``df`` degrees of freedom, or z when
    ``df`` is missing or not finite."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95); got {level}")
    if df is not None and math.isfinite(df):
        from scipy.stats import t as t_dist

        return float(t_dist.isf((1 - level) / 2, df))
    return float(norm.isf((1 - level) / 2))


def wald_ci(yi, vi, level: float) -> tuple[np.ndarray, np.ndarray]:
    """yᵢ ± z·√vᵢ: the Wald CI of each effect size at ``level`` (analysis scale)."""
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    half = critical_value(level) * np.sqrt(v)
    return y - half, y + half


def _f(x: Any) -> float | None:
    """JSON-friendly float: None for nan/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class PoolResult:
    """One pooled meta-analysis.

    Attributes are on the analysis scale (log OR, logit, …); ``backtransformed``
    gives the summary on the display scale. ``summary`` is a one-row DataFrame,
    ``studies`` a per-study DataFrame, ``to_dict()`` the JSON contract of
    ``carsynth pool --json``.
    """

    settings: PoolSettings
    k: int
    estimate: float
    se: float
    ci_lb: float
    ci_ub: float
    stat: float
    df: float
    pval: float
    tau2: float
    tau2_ci_lb: float
    tau2_ci_ub: float
    i2: float
    i2_tau2: float
    i2_ci_lb: float
    i2_ci_ub: float
    h2: float
    h2_ci_lb: float
    h2_ci_ub: float
    q: float
    q_df: float
    q_pval: float
    pi_lb: float
    pi_ub: float
    converged: bool
    study: list[str]
    yi: np.ndarray
    vi: np.ndarray
    weights: np.ndarray  # percent, input order, nan if excluded
    excluded: dict[int, str]
    ni: np.ndarray | None = None
    warnings: list[Note] = field(default_factory=list)  # coded: filter on Note.code
    pi_note: str | None = None

    BATCH_KEYS = ("k", "estimate", "se", "ci_lb", "ci_ub", "stat", "df", "pval", "tau2",
                  "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_tau2", "i2_ci_lb", "i2_ci_ub", "h2",
                  "h2_ci_lb", "h2_ci_ub", "q", "q_df", "q_pval", "pi_lb", "pi_ub", "converged")

    # -- construction --------------------------------------------------------

    @classmethod
    def from_batch(cls, fit: dict[str, np.ndarray], row: int, settings: PoolSettings,
                   study: list[str], es: EffectSizes) -> "PoolResult":
        vals = {key: fit[key][row] for key in cls.BATCH_KEYS}
        k = int(vals.pop("k"))
        weights = np.array(fit["weights"][row], dtype=float)  # nan where not pooled
        usable = np.flatnonzero(es.usable)
        res = cls(settings=settings, k=k, study=study, yi=es.yi, vi=es.vi, weights=weights,
                  excluded=dict(es.excluded), ni=es.ni,
                  converged=bool(vals.pop("converged")),
                  **{key: float(val) for key, val in vals.items()})
        if k == 1:
            # one study: its own estimate with its own Wald CI, nothing pooled
            i = int(usable[0])
            z = norm.isf((1 - settings.level) / 2)
            res.estimate, res.se = float(es.yi[i]), float(math.sqrt(es.vi[i]))
            res.ci_lb, res.ci_ub = res.estimate - z * res.se, res.estimate + z * res.se
            res.stat = res.estimate / res.se
            res.pval = float(2 * norm.sf(abs(res.stat)))
            res.df = float("nan")
        res._annotate()
        return res

    @classmethod
    def from_counts(cls, cf: CountFit, settings: PoolSettings, study: list[str],
                    es: EffectSizes) -> "PoolResult":
        z = norm.isf((1 - settings.level) / 2)
        k = int(np.isfinite(cf.weights).sum())
        q, q_df = cf.q, cf.q_df
        i2, h2 = (float(x) for x in q_based_i2_h2(q, q_df))
        stat = cf.estimate / cf.se
        from scipy.stats import chi2

        nan = float("nan")
        res = cls(settings=settings, k=k, estimate=cf.estimate, se=cf.se,
                  ci_lb=cf.estimate - z * cf.se, ci_ub=cf.estimate + z * cf.se, stat=stat,
                  df=nan, pval=float(2 * norm.sf(abs(stat))), tau2=0.0, tau2_ci_lb=nan,
                  tau2_ci_ub=nan, i2=i2, i2_tau2=nan, i2_ci_lb=nan, i2_ci_ub=nan, h2=h2,
                  h2_ci_lb=nan, h2_ci_ub=nan, q=q, q_df=float(q_df),
                  q_pval=float(chi2.sf(q, q_df)) if q_df > 0 else 1.0, pi_lb=nan, pi_ub=nan,
                  converged=True, study=study, yi=es.yi, vi=es.vi, weights=cf.weights,
                  excluded=dict(cf.excluded), ni=es.ni)
        res._annotate()
        return res

    @classmethod
    def from_glmm(cls, fit, settings: PoolSettings, study: list[str],
                  es: EffectSizes) -> "PoolResult":
        """A :class:`synthesis.glmm.GlmmFit` as a PoolResult (metafor's rma.glmm output).

        ``q`` is the likelihood-ratio test against the saturated model
        (``QE.LRT``), ``i2_tau2``/``h2`` metafor's τ²-based values; a GLMM has no
        Q-based I² and no τ² CI. The prediction interval is μ̂ ± c·√(SE² + τ̂²)
        with c as the settings' ``pi``. Study weights are approximate: inverse
        variance 1/(vᵢ + τ̂²) of the escalc logit / log OR, for display only.
        """
        from scipy.stats import t as t_dist

        nan = float("nan")
        used = np.zeros(len(study), dtype=bool)
        used[list(fit.used)] = True
        used &= np.isfinite(es.vi)
        w = np.full(len(study), nan)
        w[used] = 1 / (es.vi[used] + fit.tau2)
        w[used] = 100 * w[used] / w[used].sum()
        k = fit.k
        crit = {"hts": t_dist.isf((1 - settings.level) / 2, k - 2) if k >= 3 else nan,
                "k-1": t_dist.isf((1 - settings.level) / 2, k - 1) if k >= 2 else nan,
                "z": norm.isf((1 - settings.level) / 2)}[settings.pi]
        half = crit * math.sqrt(fit.se ** 2 + fit.tau2)
        excluded = dict(es.excluded) | {i: r for i, r in fit.excluded}
        res = cls(settings=settings, k=k, estimate=fit.estimate, se=fit.se, ci_lb=fit.ci_lb,
                  ci_ub=fit.ci_ub, stat=fit.zval, df=nan, pval=fit.pval, tau2=fit.tau2,
                  tau2_ci_lb=nan, tau2_ci_ub=nan, i2=nan, i2_tau2=fit.i2, i2_ci_lb=nan,
                  i2_ci_ub=nan, h2=fit.h2, h2_ci_lb=nan, h2_ci_ub=nan, q=fit.qe_lrt,
                  q_df=float(fit.qe_df), q_pval=fit.qe_lrt_p, pi_lb=fit.estimate - half,
                  pi_ub=fit.estimate + half, converged=fit.converged, study=study, yi=es.yi,
                  vi=es.vi, weights=w, excluded=excluded, ni=es.ni)
        res._annotate()
        res.warnings[:] = [Note(w.code, w.replace("(see their confidence intervals)",
                                                  "(a GLMM gives no CI for them)"))
                           for w in res.warnings]
        res.warnings.extend(Note(code, message) for code, message in fit.notes)
        res.warnings.append(Note(codes.GLMM, "GLMM (ML, adaptive Gauss–Hermite quadrature, 7 "
                                 "points): Q is the likelihood-ratio test against the saturated "
                                 "model; study weights are inverse-variance approximations, "
                                 "for display"))
        return res

    def _annotate(self) -> None:
        s = self.settings
        if self.k == 0:
            self.warnings.append(Note(codes.NOTHING_POOLED, "no study could be pooled"))
        elif self.k == 1:
            self.warnings.append(Note(codes.SINGLE_STUDY,
                                      "k = 1: a single study; its own estimate is shown, nothing "
                                      "is pooled and heterogeneity cannot be assessed"))
        elif self.k == 2:
            self.warnings.append(Note(
                codes.TWO_STUDIES, "k = 2: only two studies; τ² cannot be estimated reliably"
                + ("; the HKSJ interval uses t with 1 df and is wide by construction"
                   if s.ci_type != "wald" else "; the Wald interval ignores the uncertainty in τ²")
            ))
        elif self.k < 5 and s.random:
            self.warnings.append(Note(codes.FEW_STUDIES,
                                      f"k = {self.k}: few studies; τ² and I² are imprecise "
                                      f"(see their confidence intervals)"))
        if not self.converged:
            self.warnings.append(Note(codes.NOT_CONVERGED, "an iterative estimate did not "
                                      "converge; τ² and its CI are not reliable"))
        if s.random and self.k >= 1 and not math.isfinite(self.pi_lb):
            need = {"hts": 3, "k-1": 2, "z": 2}[s.pi]
            self.pi_note = (f"no prediction interval: needs k ≥ {need} "
                            f"({'t with k−2 df' if s.pi == 'hts' else s.pi}), k = {self.k}"
                            if self.k < need else
                            "no prediction interval: not computable from these numbers")
        elif not s.random:
            self.pi_note = "no prediction interval: common-effect model (τ² assumed 0)"
        if self.excluded:
            n = len(self.excluded)
            self.warnings.append(Note(codes.STUDIES_EXCLUDED, f"{n} stud{'y' if n == 1 else 'ies'} "
                                                              f"excluded (see 'excluded')"))

    # -- views -------------------------------------------------------------

    @property
    def measure(self) -> str:
        return self.settings.measure

    @property
    def method(self) -> str:
        return self.settings.method

    def conf_int(self, level: float | None = None) -> tuple[float, float]:
        """The pooled estimate's CI at ``level`` (default: the fit's), on the analysis scale.

        The fit's own interval type at another level: estimate ± c·SE with c the
        t quantile on the fit's df for (ad hoc) Hartung–Knapp–Sidik–Jonkman, else
        the normal quantile (Wald; a single study; MH, Peto, GLMM). At the fit's
        level it is (``ci_lb``, ``ci_ub``).
        """
        if level is None or level == self.settings.level:
            return self.ci_lb, self.ci_ub
        crit = critical_value(level, self.df)
        return self.estimate - crit * self.se, self.estimate + crit * self.se

    def study_conf_int(self, level: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each study's Wald CI yᵢ ± z·√vᵢ at ``level`` (default: the fit's), analysis scale
        (metafor's summary.escalc); nan for excluded studies."""
        return wald_ci(self.yi, self.vi, self.settings.level if level is None else level)

    def backtransformed(self) -> dict[str, Any]:
        m = self.measure
        ni = self.ni[np.isfinite(self.weights)] if self.ni is not None else None
        vals = [self.estimate, self.ci_lb, self.ci_ub, self.pi_lb, self.pi_ub]
        spec = measures.get(m)
        bt = spec.backtransform(vals, ni)
        return {
            "scale": spec.scale_note,
            "estimate": _f(bt[0]), "ci_lb": _f(bt[1]), "ci_ub": _f(bt[2]),
            "pi_lb": _f(bt[3]), "pi_ub": _f(bt[4]),
        }

    @property
    def summary(self) -> pd.DataFrame:
        d = self.to_dict()
        row = {k: d[k] for k in ("k", "measure", "method", "ci_type", "estimate", "se", "ci_lb",
                                 "ci_ub", "pval", "tau2", "tau2_ci_lb", "tau2_ci_ub", "i2",
                                 "i2_tau2", "h2", "q", "q_df", "q_pval", "pi_lb", "pi_ub")}
        bt = d["backtransformed"]
        row.update({f"bt_{k}": bt[k] for k in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")})
        return pd.DataFrame([row])

    @property
    def studies(self) -> pd.DataFrame:
        return pd.DataFrame({
            "study": self.study, "yi": self.yi, "vi": self.vi,
            "weight": self.weights,
            "excluded": [self.excluded.get(i) for i in range(len(self.study))],
        })

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "k": self.k,
            "measure": s.measure,
            "method": s.method,
            "ci_type": s.ci_type,
            "level": s.level,
            "estimate": _f(self.estimate), "se": _f(self.se),
            "ci_lb": _f(self.ci_lb), "ci_ub": _f(self.ci_ub),
            "stat": _f(self.stat), "df": _f(self.df), "pval": _f(self.pval),
            "tau2": _f(self.tau2), "tau": _f(math.sqrt(self.tau2)) if math.isfinite(self.tau2) else None,
            "tau2_ci_lb": _f(self.tau2_ci_lb), "tau2_ci_ub": _f(self.tau2_ci_ub),
            "i2": _f(self.i2), "i2_tau2": _f(self.i2_tau2),
            "i2_ci_lb": _f(self.i2_ci_lb), "i2_ci_ub": _f(self.i2_ci_ub),
            "h2": _f(self.h2), "h2_ci_lb": _f(self.h2_ci_lb), "h2_ci_ub": _f(self.h2_ci_ub),
            "q": _f(self.q), "q_df": _f(self.q_df), "q_pval": _f(self.q_pval),
            "pi_type": s.pi if s.random else None,
            "pi_lb": _f(self.pi_lb), "pi_ub": _f(self.pi_ub), "pi_note": self.pi_note,
            "converged": self.converged,
            "weights": [_f(w) for w in self.weights],
            "excluded": [{"study": self.study[i], "reason": r} for i, r in sorted(self.excluded.items())],
            "studies": [
                {"study": st, "yi": _f(y), "vi": _f(v), "weight": _f(w)}
                for st, y, v, w in zip(self.study, self.yi, self.vi, self.weights)
            ],
            "backtransformed": self.backtransformed(),
            "warnings": list(self.warnings),
            "settings": {
                "zero_cell_increment": s.zero_cells.add, "zero_cell_rule": s.zero_cells.to,
                "drop_double_zero": s.zero_cells.drop_double_zero, "tol": s.tol,
            },
        }

    def plot(self, ax=None, **kwargs):
        """A forest plot of this analysis; returns the matplotlib Axes."""
        from .plots import forest_axes

        return forest_axes(self, ax=ax, **kwargs)
