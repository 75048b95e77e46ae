"""Small-study (funnel asymmetry) tests for GRADE's publication-bias domain, used at k >= 10.

* Egger et al. 1997 (BMJ 315:629): weighted regression of the estimates on
  their standard errors, weights 1/vi; the test of the slope on sei is Egger's
  test of the intercept of the standard normal deviate on precision (the form
  metafor's ``regtest(model = "lm", predictor = "sei")`` uses).
* Peters et al. 2006 (JAMA 295:676), for log odds ratios: weighted regression
  of the log OR on 1/(total sample size), weights 1/(1/n_e + 1/n_c); the test
  of the slope.

Both are t-tests with k - 2 degrees of freedom (statsmodels WLS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm


@dataclass(frozen=True)
class SmallStudyTest:
    test: str
    k: int
    slope: float
    t: float
    df: int
    pval: float


def _slope_test(name: str, y, x, w) -> SmallStudyTest:
    y, x, w = (np.asarray(a, float) for a in (y, x, w))
    fit = sm.WLS(y, sm.add_constant(x), weights=w).fit()
    return SmallStudyTest(name, len(y), float(fit.params[1]), float(fit.tvalues[1]),
                          int(fit.df_resid), float(fit.pvalues[1]))


def egger(yi, vi) -> SmallStudyTest:
    """Egger's regression test (Egger et al. 1997): yi ~ sei, weights 1/vi."""
    vi = np.asarray(vi, float)
    return _slope_test("Egger", yi, np.sqrt(vi), 1 / vi)


def peters(yi, n_e, n_c) -> SmallStudyTest:
    """Peters' test (Peters et al. 2006): log OR ~ 1/N, weights 1/(1/n_e + 1/n_c)."""
    n_e, n_c = np.asarray(n_e, float), np.asarray(n_c, float)
    return _slope_test("Peters", yi, 1 / (n_e + n_c), 1 / (1 / n_e + 1 / n_c))
