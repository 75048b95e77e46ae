"""Binomial generalised linear mixed models (GLMM), as metafor's ``rma.glmm``.

Two models, both fitted by maximum likelihood with adaptive Gauss–Hermite
quadrature (AGQ) over one scalar random effect per study:

* **Single proportions** (``measure="PLO"``): the random-intercept logistic
  model ``x_i ~ Bin(n_i, expit(μ + b_i))``, ``b_i ~ N(0, τ²)`` (Stijnen,
  Hamza & Özdemir 2010, Stat Med 29:3046, section 3.1; the method R's
  ``meta::metaprop`` uses by default, Schwarzer et al. 2019, Res Synth Methods
  10:476). metafor: ``rma.glmm(measure="PLO")``.
* **Two-group odds ratios** (``measure="OR"``): the unconditional model with
  fixed study effects, metafor's ``model="UM.FS"`` (Jackson et al. 2018, Stat
  Med 37:1059, "model 4"): ``logit p_i,ctrl = α_i − b_i/2``,
  ``logit p_i,trt = α_i + μ + b_i/2``, ``b_i ~ N(0, τ²)``, with one free
  intercept per study. metafor fits it with ``lme4::glmer(... + study +
  (group − 1 | study), nAGQ = 7)`` and ``group = ±1/2`` (its ``coding = 1/2``);
  for UM.FS metafor passes its ``nAGQ`` (default 7) on unchanged — it falls
  back to the Laplace approximation (nAGQ = 1) only for ``model="UM.RS"``.
  Studies with no events (or no non-events) in both groups are dropped, as
  metafor's ``drop00 = TRUE``.

The quadrature is lme4's ``glmerAGQ`` (Bates et al. 2015, J Stat Softw
67(1); Pinheiro & Bates 1995, J Comput Graph Stat 4:12): for each study the
integrand is centred at the conditional mode ``û`` of the standardised random
effect and scaled by ``s = (−g''(û))^{-1/2}``, and
``log L_i = log s + log Σ_j w_j exp(g(û + s z_j) + z_j²/2)`` with ``(z_j, w_j)``
the n-point Gauss–Hermite rule for the standard normal. The log-likelihood is
maximised over all parameters (τ on the real line; the likelihood is even in
τ) by a trust-region Newton method with derivatives from central differences
of the per-study log-likelihoods. The standard error of μ̂ is from the inverse
observed information of all parameters (lme4's default ``use.hessian``); at
τ̂ = 0 from the fixed-effect block (lme4 falls back to it there).

Heterogeneity as metafor: the Wald and likelihood-ratio tests against the
saturated model, and ``I² = τ²/(τ² + s²)`` with s² the typical within-study
variance of the escalc effect sizes (Higgins & Thompson 2002, eq. 9).
"""

from __future__ import annotations

from .models import GLMM_MEASURES, N_AGQ, GlmmError, GlmmFit, glmm_odds_ratio, glmm_proportion

__all__ = ["GLMM_MEASURES", "N_AGQ", "GlmmError", "GlmmFit", "glmm_odds_ratio", "glmm_proportion"]
