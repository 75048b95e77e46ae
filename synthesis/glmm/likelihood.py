"""The binomial GLMM likelihood by adaptive Gauss–Hermite quadrature, and its maximiser.

lme4's ``glmerAGQ`` (Bates et al. 2015, J Stat Softw 67(1); Pinheiro & Bates
1995, J Comput Graph Stat 4:12), see :mod:`synthesis.glmm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit, gammaln, log_expit

FD_STEP = 1e-4  # central-difference step for gradients and Hessians


@dataclass(frozen=True)
class Design:
    """Binomial data per study (rows) and arm (columns) and how parameters enter.

    ``eta = alpha[:, None] * has_alpha + mu * x_mu + tau * z * u``.
    """

    y: np.ndarray  # (k, J) events
    n: np.ndarray  # (k, J) trials
    x_mu: np.ndarray  # (J,) design of the common effect μ
    z: np.ndarray  # (J,) random-effect design
    has_alpha: bool  # one free intercept per study (UM.FS)

    @property
    def k(self) -> int:
        return self.y.shape[0]

    def saturated(self) -> np.ndarray:
        """Per-study saturated binomial log-likelihood without binomial coefficients."""
        y, n = self.y, self.n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(y > 0, y * np.log(y / n), 0.0) + np.where(
                n - y > 0, (n - y) * np.log((n - y) / n), 0.0)
        return t.sum(axis=1)

    def log_choose(self) -> float:
        y, n = self.y, self.n
        return float((gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)).sum())


def gh_rule(n_agq: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for ∫ f(z) φ(z) dz (lme4's ``GHrule``)."""
    z, w = hermegauss(n_agq)
    return z, w / math.sqrt(2 * math.pi)


def study_loglik(d: Design, alpha: np.ndarray, mu, tau, n_agq: int) -> np.ndarray:
    """AGQ log-likelihood of each study, minus its saturated log-likelihood.

    ``alpha`` (k, m), ``mu`` and ``tau`` (m,) broadcast over m parameter
    points at once; returns (k, m). g(u) = Σ_arms [y η − n log(1 + e^η)] − u²/2.
    """
    eta0 = d.x_mu[None, :, None] * mu[None, None, :]  # (1, J, m)
    if d.has_alpha:
        eta0 = eta0 + alpha[:, None, :]
    y, n = d.y[:, :, None], d.n[:, :, None]
    zt = d.z[None, :, None] * tau[None, None, :]  # (1, J, m)

    def g_and_derivs(u):  # u (k, 1, m)
        eta = eta0 + zt * u
        p = expit(eta)
        ll = (y * log_expit(eta) + (n - y) * log_expit(-eta)).sum(axis=1) - 0.5 * u[:, 0] ** 2
        g1 = (zt * (y - n * p)).sum(axis=1) - u[:, 0]
        g2 = -(zt ** 2 * n * p * (1 - p)).sum(axis=1) - 1.0
        return ll, g1, g2

    # conditional mode of u by safeguarded Newton (g is strictly concave: g'' ≤ −1)
    k, m = d.k, mu.shape[0]
    u = np.zeros((k, 1, m))
    val, g1, g2 = g_and_derivs(u)
    for _ in range(100):
        step = -g1 / g2
        new = u + step[:, None, :]
        nval, ng1, ng2 = g_and_derivs(new)
        worse = nval < val - 1e-12 * np.abs(val)
        halvings = 0
        while worse.any() and halvings < 60:
            step = np.where(worse, step / 2, step)
            new = u + step[:, None, :]
            nval, ng1, ng2 = g_and_derivs(new)
            worse = nval < val - 1e-12 * np.abs(val)
            halvings += 1
        u, val, g1, g2 = new, nval, ng1, ng2
        if np.all(np.abs(step) <= 1e-13 * (1 + np.abs(u[:, 0]))):
            break
    s = 1 / np.sqrt(-g2)  # (k, m)
    zk, wk = gh_rule(n_agq)
    terms = []
    for zj in zk:
        vj, _, _ = g_and_derivs(u + (s * zj)[:, None, :])
        terms.append(vj - val + 0.5 * zj ** 2)
    terms = np.stack(terms)  # (n_agq, k, m)
    top = terms.max(axis=0)
    lse = top + np.log((wk[:, None, None] * np.exp(terms - top)).sum(axis=0))
    return val + np.log(s) + lse - d.saturated()[:, None]


class Objective:
    """Log-likelihood with central-difference derivatives that use its separable structure.

    Parameters are ``[alpha_1..alpha_k (UM.FS only), mu, tau]`` (tau omitted
    when fixed at 0). Each study's log-likelihood depends on its own alpha
    and the shared (mu, tau) only, so all studies' 2- or 3-dimensional
    Hessians come from one batch of perturbed evaluations.
    """

    def __init__(self, d: Design, n_agq: int, fix_tau0: bool):
        self.d, self.n_agq, self.fix_tau0 = d, n_agq, fix_tau0
        self.na = d.k if d.has_alpha else 0
        self._cache: dict[bytes, tuple] = {}

    def split(self, x: np.ndarray):
        alpha = x[:self.na] if self.na else np.zeros(self.d.k)
        mu = x[self.na]
        tau = 0.0 if self.fix_tau0 else x[self.na + 1]
        return alpha, mu, tau

    def value(self, x: np.ndarray) -> float:
        alpha, mu, tau = self.split(x)
        return float(study_loglik(self.d, alpha[:, None], np.array([mu]), np.array([tau]),
                                self.n_agq).sum())

    def derivs(self, x: np.ndarray):
        key = x.tobytes()
        if key in self._cache:
            return self._cache[key]
        alpha, mu, tau = self.split(x)
        coords = (["alpha"] if self.na else []) + ["mu"] + ([] if self.fix_tau0 else ["tau"])
        nc = len(coords)
        h = FD_STEP
        offsets = [np.zeros(nc)]
        for a in range(nc):
            for sgn in (1, -1):
                e = np.zeros(nc)
                e[a] = sgn * h
                offsets.append(e)
        for a in range(nc):
            for b in range(a + 1, nc):
                for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    e = np.zeros(nc)
                    e[a], e[b] = sa * h, sb * h
                    offsets.append(e)
        off = np.array(offsets)  # (m, nc)
        idx = {c: i for i, c in enumerate(coords)}
        al = alpha[:, None] + (off[:, idx["alpha"]][None, :] if "alpha" in idx else 0.0)
        mus = mu + off[:, idx["mu"]]
        taus = tau + off[:, idx["tau"]] if "tau" in idx else np.zeros(len(off))
        f = study_loglik(self.d, np.broadcast_to(al, (self.d.k, len(off))), mus, taus, self.n_agq)
        f0 = f[:, 0]
        g = np.empty((self.d.k, nc))
        H = np.empty((self.d.k, nc, nc))
        j = 1
        for a in range(nc):
            fp, fm = f[:, j], f[:, j + 1]
            g[:, a] = (fp - fm) / (2 * h)
            H[:, a, a] = (fp - 2 * f0 + fm) / h ** 2
            j += 2
        for a in range(nc):
            for b in range(a + 1, nc):
                fpp, fpm, fmp, fmm = (f[:, j + i] for i in range(4))
                H[:, a, b] = H[:, b, a] = (fpp - fpm - fmp + fmm) / (4 * h * h)
                j += 4
        # assemble the full gradient and Hessian
        p = self.na + nc - (1 if self.na else 0)
        grad = np.zeros(p)
        hess = np.zeros((p, p))
        sh = slice(self.na, p)  # shared parameters
        s0 = 1 if self.na else 0
        grad[sh] = g[:, s0:].sum(axis=0)
        hess[sh, sh] = H[:, s0:, s0:].sum(axis=0)
        if self.na:
            grad[:self.na] = g[:, 0]
            hess[np.arange(self.na), np.arange(self.na)] = H[:, 0, 0]
            hess[:self.na, sh] = H[:, 0, 1:]
            hess[sh, :self.na] = H[:, 0, 1:].T
        out = (float(f0.sum()), grad, hess)
        if len(self._cache) > 8:
            self._cache.clear()
        self._cache[key] = out
        return out


def newton_decrement(g: np.ndarray, H: np.ndarray) -> float:
    """gᵀ(−H)⁻¹g over the directions where −H is positive definite: twice the gain in
    log-likelihood a Newton step would still make (Boyd & Vandenberghe 2004, §9.5.1)."""
    w, V = np.linalg.eigh(-H)
    pos = w > 1e-12 * max(float(np.max(np.abs(w))), 1e-300)
    proj = V.T @ g
    return float(np.sum(proj[pos] ** 2 / w[pos]))


def maximise(d: Design, x0: np.ndarray, n_agq: int, fix_tau0: bool):
    """Levenberg–Marquardt-damped Newton ascent (Moré 1978) on the log-likelihood.

    Each step solves (−H + λI) p = g; λ is 0 where −H is positive definite
    and the full step raises the likelihood, and grows until it does
    otherwise. Stops when the gradient is at the level of its
    finite-difference error or no step raises the likelihood.
    """
    obj = Objective(d, n_agq, fix_tau0)
    x = np.asarray(x0, float)
    f, g, H = obj.derivs(x)
    lam = 0.0
    for _ in range(500):
        if np.max(np.abs(g)) < 1e-9 or newton_decrement(g, H) < 1e-14:
            break
        A = -H
        scale = max(1.0, float(np.max(np.abs(np.diag(A)))))
        eig_min = float(np.linalg.eigvalsh(A)[0])
        lam = max(lam, 0.0 if eig_min > 1e-10 * scale else 1e-6 * scale - eig_min)
        improved = False
        for _ in range(80):
            p = np.linalg.solve(A + lam * np.eye(x.size), g)
            fn = obj.value(x + p)
            if math.isfinite(fn) and fn >= f:
                improved = True
                break
            lam = max(4 * lam, 1e-6 * scale)
        if not improved:
            break
        x = x + p
        f_old = f
        f, g, H = obj.derivs(x)
        lam /= 10
        if np.max(np.abs(p)) < 1e-12 * (1 + np.max(np.abs(x))) or f - f_old < 1e-15 * (1 + abs(f)) \
                and newton_decrement(g, H) < 1e-10:
            break
    # converged: what a Newton step could still gain is negligible (scale-free: large
    # studies have large gradients from finite-difference error alone)
    ok = bool(np.all(np.isfinite(x)) and (np.max(np.abs(g)) < 1e-5
                                          or newton_decrement(g, H) < 1e-8))
    return x, f, g, H, ok
