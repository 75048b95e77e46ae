"""One set of pooling defaults: the API, `carsynth pool` and the review plan agree (issue 16).

Before, `carsynth pool` used plain HKSJ while the build used the ad hoc
variant, so the same CRS data gave [0.669, 0.965] in `pool` and [0.648, 0.968]
on the plot. Reference: R metafor 3.8-1,
    rma(measure="PLO", xi=c(76,110,41), ni=c(93,120,45), method="REML", test="adhoc")
    predict(transf=transf.ilogit) -> 0.8820546144 [0.6476681524, 0.9681780471]
"""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import synthesis
from synthesis.cli import build_parser, main
from synthesis.constants import DEFAULTS
from synthesis.models import PoolSettings
from synthesis.plan import Model

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("method", "hksj", "hksj_adhoc", "pi", "level")
EXPECTED = {"method": "REML", "hksj": True, "hksj_adhoc": True, "pi": "hts", "level": 0.95}
METAFOR_ADHOC = (0.8820546144, 0.6476681524, 0.9681780471)


def test_the_defaults_are_the_documented_ones():
    assert {f: getattr(DEFAULTS, f) for f in FIELDS} == EXPECTED
    methods = (REPO / "docs" / "methods.md").read_text()
    assert "| CI of the summary | Hartung–Knapp–Sidik–Jonkman t(k−1), **ad hoc**" in methods


@pytest.mark.parametrize("fn", [synthesis.pool, synthesis.pool_batch])
def test_api_signatures_use_the_defaults(fn):
    params = inspect.signature(fn).parameters
    assert {f: params[f].default for f in FIELDS} == EXPECTED


def test_pool_settings_and_plan_model_use_the_defaults():
    s, m = PoolSettings(), Model()
    assert {f: getattr(s, f) for f in FIELDS} == EXPECTED
    assert {f: getattr(m, f) for f in FIELDS} == EXPECTED
    assert s.ci_type == "hksj-adhoc"
    assert PoolSettings(hksj=False).ci_type == "wald"  # no HKSJ means Wald, ad hoc or not


def test_pool_cli_parses_to_the_defaults():
    args = build_parser().parse_args(["pool", "x.csv", "--measure", "GEN"])
    assert (args.method, args.ci, args.pi, args.level) == ("REML", "adhoc", "hts", 0.95)


def test_pool_and_build_give_the_same_interval_for_the_same_data(tmp_path, capsys):
    csv = tmp_path / "crs.csv"
    csv.write_text("study,events,n\nMa 2024,76,93\nZhang 2025,110,120\nZhou 2025,41,45\n")
    assert main(["pool", str(csv), "--measure", "PLO", "--json"]) == 0
    pooled = json.loads(capsys.readouterr().out)["backtransformed"]

    # a plan entry with no model: block gets the defaults (the shipped plan pools proportions
    # with a GLMM, so it has one of its own here)
    (tmp_path / "review.yaml").write_text(
        "review_version: 1\ntitle: defaults\nstudies: studies\noutput: output\nanalyses:\n"
        "  - id: crs_any_incidence\n    title: CRS\n    select: {kind: proportion, outcome: "
        "[crs_any]}\n    measure: PLO\n")
    shutil.copytree(REPO / "studies", tmp_path / "studies")
    assert main(["build", "--plan", str(tmp_path / "review.yaml"), "--only",
                 "crs_any_incidence", "--jobs", "1", "--quiet"]) == 0
    capsys.readouterr()
    built = json.loads((tmp_path / "output" / "crs_any_incidence" / "result.json").read_text())
    bt = built["backtransformed"]
    for key in ("estimate", "ci_lb", "ci_ub"):
        assert pooled[key] == pytest.approx(bt[key], rel=1e-12), key
    assert (bt["estimate"], bt["ci_lb"], bt["ci_ub"]) == pytest.approx(METAFOR_ADHOC, rel=1e-6)

    api = synthesis.pool(pd.DataFrame({"events": [76, 110, 41], "n": [93, 120, 45]}),
                         measure="PLO").backtransformed()
    assert api["ci_lb"] == pytest.approx(bt["ci_lb"], rel=1e-12)
