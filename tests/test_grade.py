"""GRADE rules: every threshold tested on both sides, with the expected values worked by hand."""

from __future__ import annotations

from dataclasses import replace

from synthesis.appraisal.grade import (
    Declared,
    GradeInputs,
    Override,
    StudyRob,
    Thresholds,
    grade,
    optimal_information_size,
    rate_imprecision,
    rate_inconsistency,
    rate_indirectness,
    rate_large_effect,
    rate_publication_bias,
    rate_risk_of_bias,
)

T = Thresholds()


def inputs(**kw) -> GradeInputs:
    base = dict(design="non-randomised", ratio=True, estimate=0.5, ci_lower=0.3, ci_upper=0.8,
                k=3, studies=(StudyRob("a", 40, 0, "low"), StudyRob("b", 35, 1, "moderate"),
                              StudyRob("c", 25, 1, "moderate")))
    base.update(kw)
    return GradeInputs(**base)


# --- risk of bias: weight share at serious/critical, threshold 0.5 -------------------------


def test_rob_share_just_below_half_not_serious():
    # serious weight 49 of 100 -> 49% < 50%
    x = inputs(studies=(StudyRob("a", 49, 2, "serious"), StudyRob("b", 51, 1, "moderate")))
    r = rate_risk_of_bias(x, T)
    assert r.suggested == 0
    assert "49% of the weight" in r.reason


def test_rob_share_exactly_half_serious():
    x = inputs(studies=(StudyRob("a", 50, 2, "serious"), StudyRob("b", 50, 1, "moderate")))
    assert rate_risk_of_bias(x, T).suggested == 1


def test_rob_critical_share_half_very_serious_below_half_serious():
    x = inputs(studies=(StudyRob("a", 60, 3, "critical"), StudyRob("b", 40, 0, "low")))
    assert rate_risk_of_bias(x, T).suggested == 2
    x = inputs(studies=(StudyRob("a", 40, 3, "critical"), StudyRob("b", 20, 2, "serious"),
                        StudyRob("c", 40, 0, "low")))
    # critical 40% < 50%, serious-or-critical 60% >= 50%
    assert rate_risk_of_bias(x, T).suggested == 1


def test_rob_not_assessed_counts_as_serious():
    x = inputs(studies=(StudyRob("a", 70, None, "not assessed"), StudyRob("b", 30, 0, "low")))
    r = rate_risk_of_bias(x, T)
    assert r.suggested == 1 and "a not assessed (70%)" in r.reason


def test_rob_share_threshold_from_plan():
    x = inputs(studies=(StudyRob("a", 30, 2, "serious"), StudyRob("b", 70, 0, "low")))
    assert rate_risk_of_bias(x, T).suggested == 0
    assert rate_risk_of_bias(x, replace(T, rob_share=0.3)).suggested == 1


# --- inconsistency -------------------------------------------------------------------------


def test_i2_lower_limit_against_50_and_75():
    assert rate_inconsistency(inputs(i2=70, i2_lower=49.9, i2_upper=90), T).suggested == 0
    assert rate_inconsistency(inputs(i2=70, i2_lower=50, i2_upper=90), T).suggested == 1
    assert rate_inconsistency(inputs(i2=90, i2_lower=74.9, i2_upper=97), T).suggested == 1
    assert rate_inconsistency(inputs(i2=90, i2_lower=75, i2_upper=97), T).suggested == 2


def test_i2_uncertain_is_reported_not_downgraded():
    r = rate_inconsistency(inputs(i2=0, i2_lower=0, i2_upper=96), T)
    assert r.suggested == 0 and "uncertain, the CI spans 50%" in r.reason
    r = rate_inconsistency(inputs(i2=0, i2_lower=0, i2_upper=49), T)
    assert "below 50% across its CI" in r.reason


def test_tau_against_plan_threshold():
    t = replace(T, tau_max=0.2)
    assert rate_inconsistency(inputs(tau=0.2), t).suggested == 0
    assert rate_inconsistency(inputs(tau=0.21), t).suggested == 1
    # no plan threshold: tau alone never downgrades
    assert rate_inconsistency(inputs(tau=5.0), T).suggested == 0


def test_prediction_interval_crossing_null_when_ci_does_not():
    x = inputs(tau=0.3, pi_lower=0.2, pi_upper=1.3, ci_lower=0.3, ci_upper=0.8)
    assert rate_inconsistency(x, T).suggested == 1
    x = inputs(tau=0.3, pi_lower=0.2, pi_upper=0.95, ci_lower=0.3, ci_upper=0.8)
    assert rate_inconsistency(x, T).suggested == 0
    # the CI itself includes the null: imprecision's business, not inconsistency's
    x = inputs(tau=0.3, pi_lower=0.2, pi_upper=3.0, ci_lower=0.4, ci_upper=1.2)
    assert rate_inconsistency(x, T).suggested == 0


def test_prediction_interval_reaching_both_thresholds():
    t = replace(T, benefit=0.8, harm=1.25)
    x = inputs(tau=0.3, pi_lower=0.5, pi_upper=1.25)
    assert rate_inconsistency(x, t).suggested == 2
    x = inputs(tau=0.3, pi_lower=0.5, pi_upper=1.24)
    assert rate_inconsistency(x, t).suggested == 1


def test_prediction_interval_ignored_when_tau_zero_or_k_below_3():
    x = inputs(tau=0.0, pi_lower=0.1, pi_upper=9.0)
    assert rate_inconsistency(x, T).suggested == 0
    x = inputs(tau=0.3, pi_lower=0.1, pi_upper=9.0, k=2)
    assert rate_inconsistency(x, T).suggested == 0
    assert rate_inconsistency(inputs(k=1), T).reason == "not applicable (one study)"


# --- indirectness ----------------------------------------------------------------------------


def test_indirectness_takes_the_most_serious_declaration():
    assert rate_indirectness(inputs()).suggested == 0
    x = inputs(indirectness=(Declared("outcome", 1, "PFS, EFS and LFS pooled"),
                             Declared("comparator", 2, "historical controls")))
    r = rate_indirectness(x)
    assert r.suggested == 2
    assert r.reason == ("outcome: PFS, EFS and LFS pooled (serious); "
                        "comparator: historical controls (very serious)")


# --- imprecision -------------------------------------------------------------------------------


def test_optimal_information_size_by_hand():
    # p0 = 0.2, RRR 25% -> p1 = 0.15; z = 1.959964 + 0.841621 = 2.801585, z^2 = 7.848879
    # n/arm = 7.848879 * (0.16 + 0.1275) / 0.05^2 = 902.62 -> 903; total 1806
    assert optimal_information_size(0.2) == 1806
    # p0 = 0.5: p1 = 0.375; (0.25 + 0.234375) / 0.015625 * 7.848879 = 243.31 -> 244; total 488
    assert optimal_information_size(0.5) == 488


def test_ci_against_null():
    assert rate_imprecision(inputs(ci_lower=0.3, ci_upper=0.99), T).suggested == 0
    assert rate_imprecision(inputs(ci_lower=0.3, ci_upper=1.0), T).suggested == 1
    assert rate_imprecision(inputs(ci_lower=0.3, ci_upper=1.01), T).suggested == 1


def test_ci_against_decision_thresholds():
    t = replace(T, benefit=0.8, harm=1.25)
    assert rate_imprecision(inputs(ci_lower=0.5, ci_upper=0.79), t).suggested == 0
    assert rate_imprecision(inputs(ci_lower=0.5, ci_upper=0.85), t).suggested == 1  # crosses 0.8
    assert rate_imprecision(inputs(ci_lower=0.8, ci_upper=1.24), t).suggested == 1
    assert rate_imprecision(inputs(ci_lower=0.8, ci_upper=1.25), t).suggested == 2
    assert rate_imprecision(inputs(ci_lower=0.81, ci_upper=1.3), t).suggested == 1


def test_ois_for_binary_outcomes():
    x = inputs(ci_lower=0.3, ci_upper=0.8, binary=True, comparator_risk=0.5, total_n=487)
    r = rate_imprecision(x, T)
    assert r.suggested == 1 and "487 participants < optimal information size 488" in r.reason
    x = replace(x, total_n=488)
    assert rate_imprecision(x, T).suggested == 0
    # not binary: no OIS
    assert rate_imprecision(replace(x, binary=False, total_n=10), T).suggested == 0


# --- publication bias ----------------------------------------------------------------------------


def test_publication_bias_only_at_k_10():
    assert rate_publication_bias(inputs(k=9, small_study_p=0.001), T).reason == \
        "not assessed (k < 10)"
    assert rate_publication_bias(inputs(k=10, small_study_p=0.099), T).suggested == 1
    assert rate_publication_bias(inputs(k=10, small_study_p=0.10), T).suggested == 0
    assert rate_publication_bias(inputs(k=12), T).reason == "not assessed (no small-study test)"


# --- large effect ------------------------------------------------------------------------------


def test_large_effect_upgrade_thresholds():
    up = lambda **kw: rate_large_effect(inputs(**kw), T, downgraded=False).suggested  # noqa: E731
    assert up(estimate=0.51, ci_lower=0.3, ci_upper=0.8) == 0   # 1/0.51 = 1.96-fold
    assert up(estimate=0.5, ci_lower=0.3, ci_upper=0.8) == 1
    assert up(estimate=2.0, ci_lower=1.1, ci_upper=3.0) == 1
    assert up(estimate=5.0, ci_lower=2.0, ci_upper=9.0) == 2
    assert up(estimate=5.0, ci_lower=1.9, ci_upper=9.0) == 1    # near limit below 2-fold
    assert up(estimate=0.2, ci_lower=0.1, ci_upper=0.5) == 2
    assert up(estimate=3.0, ci_lower=0.9, ci_upper=9.0) == 0    # CI includes the null
    assert rate_large_effect(inputs(estimate=3, ci_lower=2, ci_upper=4), T,
                             downgraded=True).suggested == 0
    assert rate_large_effect(inputs(design="randomised", estimate=3, ci_lower=2, ci_upper=4), T,
                             downgraded=False).suggested == 0


# --- the whole rating ----------------------------------------------------------------------------


def test_observational_starts_low_and_moves_down():
    # RoB serious (60% weight serious) and imprecise (CI includes 1): 2 - 1 - 1 -> 0, floor 1
    x = inputs(ci_lower=0.4, ci_upper=1.2,
               studies=(StudyRob("a", 60, 2, "serious"), StudyRob("b", 40, 0, "low")))
    c = grade(x, T)
    assert (c.start, c.score, c.label, c.symbols) == (2, 1, "very low", "⊕◯◯◯")


def test_randomised_starts_high():
    x = inputs(design="randomised", studies=(StudyRob("a", 1, 0, "low"),), k=1)
    c = grade(x, T)
    assert (c.score, c.symbols) == (4, "⊕⊕⊕⊕")


def test_override_replaces_suggestion_and_is_kept():
    x = inputs(ci_lower=0.4, ci_upper=1.2)
    c = grade(x, T, {"imprecision": Override(0, "the CI excludes any important effect")})
    d = c.domain("imprecision")
    assert (d.suggested, d.level) == (1, 0)
    assert c.score == 2
    assert c.to_dict()["domains"][3]["override"]["justification"] == \
        "the CI excludes any important effect"


def test_upgrade_for_large_effect_without_downgrades():
    x = inputs(estimate=0.3, ci_lower=0.2, ci_upper=0.45,
               studies=(StudyRob("a", 1, 1, "moderate"),), k=1)
    assert grade(x, T).score == 3


# --- small-study tests against R (tests/fixtures/smallstudy/make_fixture.R) -------------------


def test_egger_and_peters_match_r():
    import json
    from pathlib import Path

    import pytest

    from synthesis.appraisal.smallstudy import egger, peters
    ref = json.loads((Path(__file__).parent / "fixtures" / "smallstudy" /
                      "smallstudy.json").read_text())
    e = egger(ref["yi"], ref["vi"])
    assert e.t == pytest.approx(ref["egger"]["t"], rel=1e-9)
    assert e.pval == pytest.approx(ref["egger"]["p"], rel=1e-9)
    assert e.df == ref["egger"]["df"] == 11
    p = peters(ref["yi"], ref["n_e"], ref["n_c"])
    assert p.slope == pytest.approx(ref["peters"]["slope"], rel=1e-9)
    assert p.t == pytest.approx(ref["peters"]["t"], rel=1e-9)
    assert p.pval == pytest.approx(ref["peters"]["p"], rel=1e-9)


def test_imprecision_names_a_credible_interval():
    r = rate_imprecision(inputs(ci_lower=0.22, ci_upper=1.21, interval="CrI"), T)
    assert r.reason == "CrI 0.22–1.21 includes the null (1.00)"
