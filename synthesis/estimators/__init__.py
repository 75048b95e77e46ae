"""Between-study variance (τ²) estimators and the Q-profile interval, vectorised.

Every function works on a batch of B meta-analyses at once: ``y`` and ``v``
are (B, K) arrays and ``mask`` marks which of the K slots hold a study (so
analyses with different k share one array). A single analysis is a batch of
one, so the single and batch paths are the same code and give identical
numbers.

All estimators are truncated at 0. The iterative ones (ML, REML, EB, PM and
the Q-profile limits) stop when a step changes τ² by less than ``tol``
(default 1e-10, relative above τ² = 1; metafor's default is 1e-5), and report
non-convergence instead of returning an unconverged value silently. The steps
are Newton steps, whose remaining error is of the order of the square of the
last step, so the results agree with a 1e-13 criterion to about 1e-15.

Sources: DerSimonian & Laird 1986; Hedges 1983 (HE); Sidik & Jonkman 2005
(SJ); Paule & Mandel 1982 (PM); Morris 1983 (EB); Viechtbauer 2005 (ML and
REML, solved by safeguarded Newton iteration); Viechtbauer 2007 (Q-profile
CI). The update formulas follow metafor's rma.uni (Viechtbauer 2010) so
results agree with it.
"""

from __future__ import annotations

from ..constants import TAU2_METHODS
from .batch import (BLOCK_ELEMENTS, DEFAULT_MAXITER, DEFAULT_TOL, Batch, Tau2Fit, blockwise,
                    blocks_of, common_effect_sums, iterate_columns, ksum, per_df)
from .likelihood import loglik, tau2_ml, tau2_reml
from .moments import (solve_q_gen, tau2_dl, tau2_eb, tau2_he, tau2_pm, tau2_qprofile_ci,
                      tau2_sj)

__all__ = ["BLOCK_ELEMENTS", "DEFAULT_MAXITER", "DEFAULT_TOL", "TAU2_METHODS", "Batch", "Tau2Fit",
           "blockwise", "blocks_of", "common_effect_sums", "estimate_tau2", "iterate_columns",
           "ksum", "loglik", "per_df", "solve_q_gen", "tau2_dl", "tau2_eb", "tau2_he", "tau2_ml",
           "tau2_pm", "tau2_qprofile_ci", "tau2_reml", "tau2_sj"]


def estimate_tau2(b: Batch, method: str, tol: float = DEFAULT_TOL,
                  maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    method = method.upper()
    if method == "DL":
        return tau2_dl(b)
    if method == "HE":
        return tau2_he(b)
    if method == "SJ":
        return tau2_sj(b)
    if method == "PM":
        return tau2_pm(b, tol, maxiter)
    if method == "EB":
        return tau2_eb(b, tol, maxiter)
    if method == "ML":
        return tau2_ml(b, tol, maxiter)
    if method == "REML":
        return tau2_reml(b, tol, maxiter)
    raise ValueError(f"unknown τ² method {method!r}; expected one of {TAU2_METHODS}")


