"""The binomial GLMM against metafor's rma.glmm (lme4, nAGQ = 7).

Fixtures: tests/fixtures/metafor/glmm/glmm_cases.json, made by
make_glmm_fixtures.R (metafor 3.8-1, lme4 1.1-31; every case fitted with
rma.glmm's default lme4 control and with a tightened one). Tolerances from
issue 14: relative 1e-4 on estimate, SE and CI, 1e-3 on τ², wherever lme4
reports convergence; where it does not, our log-likelihood must be at least
as high as the one lme4 stopped at.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from synthesis.glmm import GlmmError, glmm_odds_ratio, glmm_proportion

FIXTURES = Path(__file__).parent / "fixtures" / "metafor" / "glmm" / "glmm_cases.json"
CASES = json.loads(FIXTURES.read_text())["cases"]


def _fit(case):
    d = case["data"]
    if case["measure"] == "PLO":
        return glmm_proportion(d["events"], d["n"])
    return glmm_odds_ratio(d["event_e"], d["n_e"], d["event_c"], d["n_c"])


def _reference(case):
    """The tight lme4 fit if it converged, else the default one if it did, else None."""
    for which in ("tight", "default"):
        if case[which]["converged"]:
            return case[which]
    return None


def _agq_deviance(fit):
    """lme4's objective: −2 × (marginal log-likelihood − saturated log-likelihood)."""
    return -2 * (fit.loglik - fit.loglik_sat)


def test_fixture_covers_the_issue():
    ids = {c["id"] for c in CASES}
    assert {"seed_crs_any", "seed_cr", "seed_icans_any"} <= ids
    ks = {len(c["data"].get("events", c["data"].get("event_e"))) for c in CASES}
    assert set(range(2, 21)) <= ks
    assert sum(c["measure"] == "OR" for c in CASES) >= 20
    assert sum(_reference(c) is not None for c in CASES) >= 75


@pytest.mark.parametrize("case", [c for c in CASES if _reference(c) is not None],
                         ids=lambda c: c["id"])
def test_matches_metafor_where_lme4_converged(case):
    ref = _reference(case)
    fit = _fit(case)
    assert fit.converged
    for key in ("estimate", "se"):
        assert getattr(fit, key) == pytest.approx(ref[key], rel=1e-4, abs=1e-8), key
    # a CI limit can sit near 0 (or_rand_k07: 0.026 on a log OR with SE 0.2), where a
    # relative tolerance amplifies lme4's own stopping error; there 1e-4 is taken
    # relative to the SE, the scale of the interval
    for key in ("ci_lb", "ci_ub"):
        scale = max(abs(ref[key]), ref["se"])
        assert abs(getattr(fit, key) - ref[key]) <= 1e-4 * scale, key
    assert fit.tau2 == pytest.approx(ref["tau2"], rel=1e-3, abs=1e-8)
    assert fit.i2 == pytest.approx(ref["i2"], rel=1e-3, abs=1e-6)
    assert fit.h2 == pytest.approx(ref["h2"], rel=1e-3)
    assert fit.pval == pytest.approx(ref["pval"], rel=1e-3, abs=1e-12)
    # heterogeneity tests come from glm fits, not from lme4: tighter
    assert fit.qe_lrt == pytest.approx(ref["qe_lrt"], rel=1e-6, abs=1e-8)
    if math.isfinite(fit.qe_wald):  # undefined with a zero cell (metafor prints a number)
        assert fit.qe_wald == pytest.approx(ref["qe_wald"], rel=1e-5, abs=1e-8)
    else:
        assert any(code == "glmm-wald-zero-cell" for code, _ in fit.notes)
    assert fit.k == ref["k"]
    # the maximised AGQ likelihood: the same objective as lme4 at the same optimum
    assert _agq_deviance(fit) == pytest.approx(ref["dev_agq"], abs=1e-5)


@pytest.mark.parametrize(
    "case,which",
    [(c, w) for c in CASES for w in ("tight", "default")
     if not c[w]["converged"] and c[w].get("dev_agq") is not None],
    ids=lambda x: x if isinstance(x, str) else x["id"])
def test_likelihood_at_least_lme4s_where_it_did_not_converge(case, which):
    fit = _fit(case)
    assert _agq_deviance(fit) <= case[which]["dev_agq"] + 1e-9


def test_some_lme4_fits_did_not_converge():
    # the test above must not be vacuous
    assert sum(not c[w]["converged"] and c[w].get("dev_agq") is not None
               for c in CASES for w in ("tight", "default")) >= 3


def test_identical_proportions_by_hand():
    # lme4 cannot fit this (tau2 = 0 exactly; "Cannot fit ML model"). By hand:
    # the ML estimate is logit(0.2) = ln(1/4) = -1.3862943611; tau2 = 0 and the
    # SE is that of a logistic regression: 1/sqrt(sum n p (1-p)) =
    # 1/sqrt(150 * 0.2 * 0.8) = 1/sqrt(24) = 0.2041241452.
    fit = glmm_proportion([10, 20], [50, 100])
    assert fit.estimate == pytest.approx(-1.3862943611198906, rel=1e-9)
    assert fit.tau2 == 0.0
    assert fit.se == pytest.approx(0.2041241452319315, rel=1e-6)
    assert fit.qe_lrt == pytest.approx(0.0, abs=1e-10)


def test_identical_tables_by_hand():
    # lme4 cannot fit this either. Three tables with p = 0.2 in both arms:
    # log OR = 0, tau2 = 0, and the information for the log OR in study i
    # is n1 n2 p q / (n1 + n2) = 4, 8, 12, so SE = 1/sqrt(24).
    fit = glmm_odds_ratio([10, 20, 30], [50, 100, 150], [10, 20, 30], [50, 100, 150])
    assert fit.estimate == pytest.approx(0.0, abs=1e-9)
    assert fit.tau2 == 0.0
    assert fit.se == pytest.approx(0.2041241452319315, rel=1e-6)


def test_double_zero_studies_are_listed_not_silently_dropped():
    fit = glmm_odds_ratio([0, 3, 5, 0, 7], [20, 30, 40, 25, 50], [0, 6, 9, 2, 12],
                          [20, 31, 38, 24, 48])
    assert fit.k == 4 and fit.used == (1, 2, 3, 4)
    assert fit.excluded[0][0] == 0 and "no events in either group" in fit.excluded[0][1]


@pytest.mark.parametrize("args,message", [
    (([0, 0, 0], [10, 20, 30]), "every study has no events"),
    (([10, 20], [10, 20]), "every study has only events"),
    (([3], [10]), "at least 2 studies"),
    (([3, 11], [10, 10]), "each total must be ≥ 1 and ≥ its events"),
    (([3, 1.5], [10, 10]), "whole numbers"),
])
def test_proportions_that_cannot_be_fitted_say_why(args, message):
    with pytest.raises(GlmmError, match=message):
        glmm_proportion(*args)


def test_odds_ratio_with_no_finite_estimate_says_why():
    # every table has a = 0: the OR's maximum-likelihood estimate is 0 (log OR = -inf)
    with pytest.raises(GlmmError, match="no finite maximum-likelihood estimate"):
        glmm_odds_ratio([0, 0], [10, 12], [3, 5], [10, 12])


def test_to_dict_is_json_ready():
    fit = glmm_proportion([76, 110, 41], [93, 120, 45])
    d = fit.to_dict()
    json.dumps(d)
    assert d["method"] == "GLMM" and d["n_agq"] == 7 and d["estimate"] == fit.estimate


def _case(case_id):
    return next(c for c in CASES if c["id"] == case_id)


def test_pool_api_and_cli_give_metafors_glmm(tmp_path, capsys):
    import pandas as pd

    import synthesis
    from synthesis import cli

    case = _case("seed_icans_any")  # ICANS 16/93, 31/120, 2/45
    ref = _reference(case)
    df = pd.DataFrame({"study": ["Ma 2024", "Zhang 2025", "Zhou 2025"],
                       "events": case["data"]["events"], "n": case["data"]["n"]})
    res = synthesis.pool(df, measure="PLO", method="GLMM")
    assert res.estimate == pytest.approx(ref["estimate"], rel=1e-4)
    assert res.tau2 == pytest.approx(ref["tau2"], rel=1e-3)
    assert res.q == pytest.approx(ref["qe_lrt"], rel=1e-6)  # Q of a GLMM: the LRT
    assert res.i2_tau2 == pytest.approx(ref["i2"], rel=1e-3) and math.isnan(res.i2)
    csv = tmp_path / "icans.csv"
    df.to_csv(csv, index=False)
    assert cli.main(["pool", str(csv), "--measure", "PLO", "--method", "GLMM", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "GLMM" and out["ci_type"] == "wald"
    assert out["ci_lb"] == pytest.approx(ref["ci_lb"], rel=1e-4)
    assert out["ci_ub"] == pytest.approx(ref["ci_ub"], rel=1e-4)


def test_pool_cli_glmm_errors_are_one_line(tmp_path, capsys):
    from synthesis import cli

    csv = tmp_path / "zero.csv"
    csv.write_text("study,events,n\nA,0,10\nB,0,20\n")
    assert cli.main(["pool", str(csv), "--measure", "PLO", "--method", "GLMM"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "every study has no events" in err
    assert cli.main(["pool", str(csv), "--measure", "PFT", "--method", "GLMM"]) != 0
    err = capsys.readouterr().err.strip()
    assert "method GLMM needs proportions with --measure PLO" in err


def test_plan_accepts_glmm_only_where_it_fits():
    from pydantic import ValidationError

    from synthesis.plan import Analysis

    ok = Analysis.model_validate({"id": "p", "title": "t", "measure": "PLO",
                                  "select": {"kind": "proportion", "outcome": ["crs_any"]},
                                  "model": {"method": "GLMM"}})
    assert ok.model.method == "GLMM"
    with pytest.raises(ValidationError, match="method GLMM needs proportion records with "
                                              "measure PLO or binary records with measure OR"):
        Analysis.model_validate({"id": "h", "title": "t", "measure": "HR",
                                 "select": {"kind": "ratio", "outcome": ["os"]},
                                 "model": {"method": "GLMM"}})
