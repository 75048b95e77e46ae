"""The heterogeneity report reads correctly for k = 1, 2, 3 and >= 10 (issue 14, part 4).

Each analysis is a real fit (synthesis.pool) of a small data set; the report's
Markdown and heterogeneity.json are checked as a reader sees them. The k = 13
case is metafor's dat.bcg (log RR, REML, Wald CI): rma() gives estimate
-0.7145 [-1.0669, -0.3622], i.e. RR 0.49 [0.34, 0.70], tau2 0.3132, Q 152.23
(Viechtbauer 2010, J Stat Softw 36(3), section 3).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import synthesis
from synthesis.report.hetreport import analyse
from synthesis.report.hettext import i2_interval_words, markdown

BCG = pd.DataFrame({
    "study": [f"T{i}" for i in range(1, 14)],
    "event_e": [4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27],
    "n_e": [123, 306, 231, 13598, 5069, 1541, 2545, 88391, 7499, 1716, 50634, 2498, 16913],
    "event_c": [11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29],
    "n_c": [139, 303, 220, 12867, 5808, 1451, 629, 88391, 7277, 1665, 27338, 2341, 17854]})
YEARS = [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976]


def _fit(kind, df, measure, method="REML", hksj=True, ages=None, years=None):
    """An AnalysisFit-shaped object around a real PoolResult, and the studies it reads."""
    res = synthesis.pool(df, measure=measure, method=method, hksj=hksj)
    n = len(df)
    ages = ages or ["adult"] * n
    years = years or [2020 + i for i in range(n)]
    contribs, studies = [], {}
    for i, label in enumerate(df["study"]):
        sid = f"s{i}"
        contribs.append(SimpleNamespace(study_id=sid, label=label,
                                        record=SimpleNamespace(outcome="os")))
        studies[sid] = SimpleNamespace(
            citation=SimpleNamespace(year=years[i]),
            population=SimpleNamespace(age_group=ages[i], car_targets=["CD19"], median_age=None,
                                       share_children=None),
            design=SimpleNamespace(centres="multi", n_centres=None))
    a = SimpleNamespace(id="x", title="Test analysis", measure=measure if measure != "RATIO"
                        else "HR", select=SimpleNamespace(kind=kind))
    fit = SimpleNamespace(analysis=a, data=SimpleNamespace(contributions=contribs), main=res,
                          sensitivity=())
    return fit, studies


def _report(fit, studies):
    sec = analyse(fit, studies, draw=False)
    json.dumps(sec.data, allow_nan=False)  # heterogeneity.json must be valid JSON
    return sec.data, markdown([{"title": fit.analysis.title, "data": sec.data}], "T")


HR1 = pd.DataFrame({"study": ["Ma 2024"], "ratio": [0.547], "ci_lower": [0.271],
                    "ci_upper": [1.104]})
HR2 = pd.DataFrame({"study": ["A 2020", "B 2021"], "ratio": [0.37, 0.8],
                    "ci_lower": [0.16, 0.5], "ci_upper": [0.85, 1.28]})
PROP3 = pd.DataFrame({"study": ["Ma 2024", "Zhang 2025", "Zhou 2025"],
                      "events": [16, 31, 2], "n": [93, 120, 45]})


def test_k1_is_the_study_itself_and_no_prior_is_printed_as_a_result():
    data, md = _report(*_fit("ratio", HR1, "RATIO"))
    assert "k = 1: a single cohort" in md
    # the study's own HR and CI on the reader's scale (ln CI half-width / 1.96 round trip)
    assert "single study, not pooled: 0.55 (95% CI 0.27 to 1.10)" in md
    assert "Bayesian random effects (" not in md and "τ =" not in md
    assert "no Bayesian model with one study: the posterior of τ would be its prior" in md
    assert "bayes" not in data and "tau2" not in data and "i2" not in data
    assert data["estimate"] == pytest.approx(0.547) and data["analysis_scale"]["scale"] == "log"
    assert "not analysed" not in md  # no moderator list for one study


def test_k2_names_the_dropped_moderators_and_keeps_estimates_on_the_hr_scale():
    data, md = _report(*_fit("ratio", HR2, "RATIO", ages=["adult", "paediatric"]))
    assert "k = 2: τ² cannot be estimated reliably" in md
    assert "age_group (k = 2; subgroups need at least 3 studies)" in data["moderator_notes"][0]
    assert "age\\_group (k = 2; subgroups need" in md  # Markdown-escaped study/plan text
    assert "subgroups by" not in md
    # reader's scale: hazard ratios, never log HRs. metafor: rma(log(c(.37,.8)), vi from the
    # CIs, method="REML", test="adhoc") gives exp: 0.5896 [0.004895, 71.02]
    assert "pooled hazard ratio, REML random effects: 0.59 (95% CI 0.00 to 71.02)" in md
    assert 0.3 < data["estimate"] < 0.9 and data["analysis_scale"]["estimate"] < 0
    assert "Bayesian random effects (half-normal(scale 0.5)" in md
    assert "outlier" not in md


def test_k3_proportions_no_labels_no_test_with_single_study_levels():
    data, md = _report(*_fit("proportion", PROP3, "PLO", ages=["adult", "paediatric", "mixed"]))
    assert "With only 3 studies these statistics are imprecise" in md
    assert "no study is labelled an outlier or influential with k = 3" in md
    assert "outliers (" not in md and "influential (" not in md
    assert all("outlier" not in row for row in data["influence"])
    # subgroup estimates are proportions with CIs; no test with one study per level
    line = next(x for x in md.splitlines() if x.startswith("- subgroups by age_group"))
    assert "adult (k = 1): 0.172 (95% CI 0.108 to 0.263)" in line  # 16/93, Wald on the logit
    assert "no test for subgroup differences: adult, mixed, paediatric have one study each" in line
    assert data["subgroups"][0]["pval"] is None
    # leave-one-out rows on the proportion scale, logit kept under its own name
    loo = data["leave_one_out"][0]
    assert 0 < loo["estimate"] < 1 and loo["analysis_scale"]["scale"] == "logit"
    # one I² named as such, the other labelled; no test against 50%
    assert "I² = " in md and "τ²-based I² = " in md
    assert "pval" not in data


def test_k13_bcg_reads_as_metafor_and_labels_influence():
    fit, studies = _fit("binary", BCG, "RR", hksj=False, years=YEARS,
                        ages=["adult"] * 6 + ["paediatric"] * 7)
    data, md = _report(fit, studies)
    # metafor: rma(yi, vi, data=escalc("RR", ...dat.bcg)) -> RR 0.49 [0.34, 0.70], tau2 0.3132
    assert "pooled risk ratio, REML random effects: 0.49 (95% CI 0.34 to 0.70)" in md
    assert data["tau2"] == pytest.approx(0.3132, abs=5e-5)
    assert data["q"] == pytest.approx(152.23, abs=5e-3)
    assert "I² = 92%" in md and "τ²-based I² = 92%" in md
    assert "With only" not in md and "excludes no heterogeneity" in md
    assert "no study is labelled" not in md and "influence" in data
    assert all("outlier" in row for row in data["influence"])
    # two levels of 6 and 7 studies: the subgroup test is run
    line = next(x for x in md.splitlines() if x.startswith("- subgroups by age_group"))
    assert "test for subgroup differences Q = " in line and "no test" not in line
    # meta-regression on year, reported as a ratio of risk ratios per year
    mr = next(x for x in md.splitlines() if x.startswith("- meta-regression on year"))
    assert "ratio of risk ratios per unit" in mr


@pytest.mark.parametrize("lo,hi,must,must_not", [
    (15, 100, "excludes no heterogeneity", "compatible with"),
    (0, 90, "includes no heterogeneity (0%)", "excludes"),
    (55, 70, "runs from heterogeneity that is moderate (55%) to substantial (70%)", "includes"),
    (80, 85, "lies within one Cochrane Handbook band (substantial", "includes"),
])
def test_i2_interval_wording_is_true_for_its_limits(lo, hi, must, must_not):
    text = i2_interval_words(lo, hi)
    assert must in text and must_not not in text


def test_glmm_report_has_no_q_based_i2_and_a_sensitivity_row():
    res = synthesis.pool(PROP3, measure="PLO", method="GLMM")
    iv = synthesis.pool(PROP3, measure="PLO", method="REML")
    fit, studies = _fit("proportion", PROP3, "PLO")
    fit.main = res
    fit.sensitivity = (SimpleNamespace(label="Inverse variance, logit (REML, HKSJ ad hoc)",
                                       result=iv),)
    data, md = _report(fit, studies)
    # metafor rma.glmm(measure="PLO", xi=c(16,31,2), ni=c(93,120,45)): 0.151 [0.071, 0.293]
    assert "pooled proportion, binomial GLMM (ML): 0.151 (95% CI 0.071 to 0.293)" in md
    assert "a GLMM has no Q-based I²" in md
    assert "sensitivity analysis, inverse variance, logit (REML, HKSJ ad hoc): 0.154" in md
    assert "inverse-variance REML model on the logit scale" in md
    assert np.isfinite(data["i2_tau2"]) and data["i2"] is None
