"""``reproduce.R``: the metafor calls that give an analysis' numbers from the same data.

Every analysis folder of the build gets one. It holds the study data as
extracted (counts, or ratios with their CIs or p-values), computes the effect
sizes with ``escalc`` (or the Cochrane Handbook §6.3.2 formulas for ratios,
written out), fits each model of the analysis with ``rma``, ``rma.mh``,
``rma.peto`` or ``rma.glmm`` with carsynth's settings, prints metafor's output,
and then prints one line per number, ``carsynth <key> <value>``, under the
same keys as result.json (``common.<key>`` for ``common_effect``, ``subgroup.<i>.<key>``
and ``sensitivity.<i>.<key>`` for the i-th entry of ``subgroups`` and ``sensitivity``),
so the two can be compared
by eye or by a program (tests/test_reproduce.py does, to 1e-6; 1e-4 for GLMM).

The convergence tolerances of rma are tightened as in carsynth's metafor
fixtures (tests/fixtures/metafor/README.md); metafor's defaults (1e-5 on τ²)
would agree only to about 1e-5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import __version__

#: the numbers each block prints, as named in PoolResult.to_dict() / result.json
KEYS = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "i2", "i2_tau2", "q", "q_pval",
        "pi_lb", "pi_ub")
_BACK = {"OR": "exp", "RR": "exp", "RATIO": "exp", "HR": "exp", "PETO": "exp",
         "PLO": "transf.ilogit", "PAS": "transf.iarcsin"}


@dataclass(frozen=True)
class Block:
    """One fit to reproduce: its key prefix, its settings and which studies it pools."""

    prefix: str  # "" for the main fit, else e.g. "common." or "subgroup.EFS."
    title: str
    result: Any  # PoolResult (settings, k, measure)
    rows: tuple[int, ...]  # indices into the analysis' contributions


def _r_str(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _r_num(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NA"
    x = float(x)
    return repr(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _vec(values) -> str:
    return "c(" + ", ".join(_r_num(v) for v in values) + ")"


def data_frame(kind: str, contributions) -> tuple[str, str]:
    """R code for ``dat`` with one row per contribution, and the escalc arguments' kind."""
    recs = [c.record for c in contributions]
    labels = "c(" + ", ".join(_r_str(c.label) for c in contributions) + ")"
    if kind == "binary":
        cols = {"ai": [r.exposed.events for r in recs], "n1i": [r.exposed.total for r in recs],
                "ci": [r.reference.events for r in recs], "n2i": [r.reference.total for r in recs]}
    elif kind == "proportion":
        cols = {"xi": [r.events for r in recs], "ni": [r.total for r in recs]}
    else:
        cols = {"est": [r.estimate for r in recs],
                "lower": [r.ci_lower for r in recs], "upper": [r.ci_upper for r in recs],
                "level": [r.ci_level if r.ci_level is not None else 0.95 for r in recs],
                "p": [None if r.p is None else float(r.p) for r in recs]}
    body = ",\n".join(f"  {name} = {_vec(vals)}" for name, vals in cols.items())
    code = f"dat <- data.frame(\n  study = {labels},\n{body}\n)\n"
    if kind == "ratio":
        code += (
            "## log ratio; SE from the CI, (ln U - ln L) / (2 z), or where only a p-value is\n"
            "## given from it, |ln est| / z(1 - p/2) (Cochrane Handbook 6.3.2)\n"
            "dat$yi <- log(dat$est)\n"
            "dat$vi <- ifelse(is.na(dat$lower),\n"
            "                 (abs(log(dat$est)) / qnorm(dat$p / 2, lower.tail = FALSE))^2,\n"
            "                 ((log(dat$upper) - log(dat$lower)) / (2 * qnorm(0.5 + dat$level / 2)))^2)\n")
    return code, kind


def _escalc(kind: str, measure: str, settings, rows: str) -> str:
    zc = settings.zero_cells
    d = f"dat[{rows}, ]"
    if kind == "ratio":
        return f"sub <- {d}\n"
    drop00 = "TRUE" if zc.drop_double_zero and measure in ("OR", "RR") else "FALSE"
    if kind == "binary":
        return (f"sub <- escalc(measure = {_r_str(measure)}, ai = ai, n1i = n1i, ci = ci, "
                f"n2i = n2i, data = {d}, slab = study,\n              add = {_r_num(zc.add)}, "
                f"to = {_r_str(zc.to)}, drop00 = {drop00})\n")
    add = _r_num(zc.add) if measure in ("PR", "PLO") else "0"
    return (f"sub <- escalc(measure = {_r_str(measure)}, xi = xi, ni = ni, data = {d}, "
            f"slab = study, add = {add}, to = {_r_str(zc.to)})\n")


def _fit_call(kind: str, measure: str, settings) -> str:
    m = settings.method
    level = _r_num(100 * settings.level)
    zc = settings.zero_cells
    if m in ("MH", "PETO"):
        drop = "TRUE" if zc.drop_double_zero else "FALSE"
        fn, meas = ("rma.mh", f"measure = {_r_str(measure)}, ") if m == "MH" else ("rma.peto", "")
        return (f"res <- {fn}(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = sub, {meas}slab = study,\n"
                f"              add = c({_r_num(zc.add)}, 0), to = c({_r_str(zc.to)}, \"none\"), "
                f"drop00 = c({drop}, FALSE), level = {level})\n")
    if m == "GLMM":
        if measure == "PLO":
            args = "xi = xi, ni = ni"
        else:
            args = "ai = ai, n1i = n1i, ci = ci, n2i = n2i, model = \"UM.FS\""
        return (f"## ML with adaptive Gauss-Hermite quadrature, nAGQ = 7 (lme4::glmer)\n"
                f"res <- rma.glmm(measure = {_r_str(measure)}, {args}, data = sub, slab = study,\n"
                f"                nAGQ = 7, level = {level})\n")
    method = "EE" if m == "FE" else m
    test = "z" if settings.ci_type == "wald" else ("adhoc" if settings.hksj_adhoc else "knha")
    return ("s <- max(1, var(sub$yi, na.rm = TRUE), na.rm = TRUE)\n"
            f"res <- rma(yi, vi, data = sub, slab = study, method = {_r_str(method)}, "
            f"test = {_r_str(test)}, level = {level},\n"
            "           control = list(threshold = 1e-13 * s, tol = 1e-13 * s, maxiter = 10000))\n")


def _checks(prefix: str, settings, measure: str) -> str:
    m = settings.method
    random = settings.random or m == "GLMM"
    lines = ["b <- c(res$b)[1]"]
    if random:
        lines.append("tau2 <- res$tau2")
    else:
        lines.append("tau2 <- 0")
    if m == "GLMM":
        lines += ["q <- res$QE.LRT; q_pval <- res$QEp.LRT; i2 <- NA; i2_tau2 <- res$I2"]
    else:
        lines += ["q <- res$QE; q_pval <- res$QEp",
                  "df <- (if (is.null(res$k.yi)) res$k else res$k.yi) - 1",
                  "i2 <- if (is.na(q) || q <= 0 || df < 1) 0 else max(0, 100 * (q - df) / q)",
                  f"i2_tau2 <- {'res$I2' if random else 'NA'}"]
    if random and settings.level:
        lvl = _r_num(settings.level)
        crit = {"hts": f"if (res$k >= 3) qt(0.5 + {lvl} / 2, res$k - 2) else NA",
                "k-1": f"if (res$k >= 2) qt(0.5 + {lvl} / 2, res$k - 1) else NA",
                "z": f"qnorm(0.5 + {lvl} / 2)"}[settings.pi]
        lines.append(f"crit <- {crit}   # prediction interval: {settings.pi}")
        lines.append("pi <- b + c(-1, 1) * crit * sqrt(res$se^2 + tau2)")
    else:
        lines.append("pi <- c(NA, NA)")
    lines.append("out <- c(estimate = b, se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub, "
                 "pval = res$pval,\n         tau2 = tau2, i2 = i2, i2_tau2 = i2_tau2, q = q, "
                 "q_pval = q_pval, pi_lb = pi[1], pi_ub = pi[2])")
    back = _BACK.get(measure)
    if back:
        lines.append(f"cat(sprintf(\"estimate on the reader's scale: %.4g [%.4g, %.4g]\\n\", "
                     f"{back}(b), {back}(res$ci.lb), {back}(res$ci.ub)))")
    lines.append(f"for (nm in names(out)) cat(sprintf(\"carsynth {prefix}%s %.15g\\n\", nm, out[[nm]]))")
    return "\n".join(lines) + "\n"


def _single(prefix: str, settings) -> str:
    lvl = _r_num(settings.level)
    return ("## one study: its own estimate and Wald CI, nothing pooled\n"
            "b <- sub$yi[!is.na(sub$yi)][1]; se <- sqrt(sub$vi[!is.na(sub$yi)][1])\n"
            f"crit <- qnorm(0.5 + {lvl} / 2)\n"
            "out <- c(estimate = b, se = se, ci_lb = b - crit * se, ci_ub = b + crit * se,\n"
            "         pval = 2 * pnorm(abs(b / se), lower.tail = FALSE))\n"
            "print(out)\n"
            f"for (nm in names(out)) cat(sprintf(\"carsynth {prefix}%s %.15g\\n\", nm, out[[nm]]))\n")


def block_code(kind: str, block: Block) -> str:
    res = block.result
    settings = res.settings
    measure = settings.measure
    rows = _vec([i + 1 for i in block.rows])
    head = f"\n## --- {block.title} " + "-" * max(3, 70 - len(block.title)) + "\n"
    if res.k == 0:
        return head + "cat(\"no study could be pooled\\n\")\n"
    esc_measure = "OR" if measure == "PETO" else measure
    code = head + _escalc(kind, esc_measure, settings, rows)
    if res.k == 1 and settings.method not in ("MH", "PETO"):
        return code + _single(block.prefix, settings)
    return code + _fit_call(kind, measure, settings) + "print(res)\n" + _checks(
        block.prefix, settings, measure)


def blocks(fit) -> list[Block]:
    """The fits of an AnalysisFit to reproduce: main, common effect, subgroups, sensitivity."""
    contribs = list(fit.data.contributions)
    index = {id(c): i for i, c in enumerate(contribs)}
    out = []
    if fit.main is not None:
        out.append(Block("", "main analysis", fit.main, tuple(range(len(contribs)))))
    if fit.common is not None:
        out.append(Block("common.", "common-effect model", fit.common,
                         tuple(range(len(contribs)))))
    for i, s in enumerate(fit.subgroups):
        out.append(Block(f"subgroup.{i}.", f"subgroup {s.name}", s.result,
                         tuple(index[id(c)] for c in s.members)))
    for i, alt in enumerate(getattr(fit, "sensitivity", ()) or ()):
        result = getattr(alt, "result", None)
        if result is None or not hasattr(result, "settings"):
            continue
        rows = same_data_rows(result, fit.main, contribs)
        if rows is not None:
            out.append(Block(f"sensitivity.{i}.", f"sensitivity: {alt.label}", result, rows))
    return out


def same_data_rows(result, main, contribs) -> tuple[int, ...] | None:
    """The rows of the analysis' table a sensitivity fit pooled, or None where its data
    are not rows of that table (e.g. counts varied within their rounding range)."""
    labels = [c.label for c in contribs]
    if main is None or len(set(labels)) != len(labels) or any(s not in labels
                                                               for s in result.study):
        return None
    rows = tuple(labels.index(s) for s in result.study)
    import numpy as np

    same = np.allclose(np.asarray(result.yi, float), np.asarray(main.yi, float)[list(rows)],
                       rtol=0, atol=0, equal_nan=True)
    return rows if same else None


def reproduce_r(fit) -> str:
    """The text of ``reproduce.R`` for one AnalysisFit."""
    a = fit.analysis
    kind = a.select.kind
    bs = blocks(fit)
    needs_lme4 = any(b.result.settings.method == "GLMM" for b in bs)
    head = (f"## reproduce.R -- {a.title} ({a.id})\n"
            f"## Written by carsynth {__version__}: the metafor calls that give the numbers of\n"
            "## result.json from the same data. Run in this folder:  Rscript reproduce.R\n"
            f"## Needs R with metafor (>= 3.8){' and lme4' if needs_lme4 else ''}. Lines "
            "'carsynth <key> <value>' repeat each number under its result.json key.\n\n"
            "suppressPackageStartupMessages(library(metafor))\n"
            "options(warn = 1)\n\n")
    if not fit.data.contributions:
        return head + "cat(\"no study reports an estimate for this analysis\\n\")\n"
    df_code, _ = data_frame(kind, fit.data.contributions)
    sens = [alt for alt in getattr(fit, "sensitivity", ()) or ()]
    skipped = [alt.label for alt in sens
               if not any(b.result is alt.result for b in bs)]
    tail = "".join(f"\n## not reproduced here: {label} (its data are not this table's rows)\n"
                   for label in skipped)
    return head + df_code + "".join(block_code(kind, b) for b in bs) + tail
