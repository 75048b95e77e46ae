"""`carsynth heterogeneity` as a user runs it: the report, its files, and bad names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from synthesis import cli
from synthesis.report.hetreport import reading

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture()
def project(tmp_path, monkeypatch):
    shutil.copy(REPO / "review.yaml", tmp_path / "review.yaml")
    shutil.copytree(REPO / "studies", tmp_path / "studies")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _src():
    return ["--sources", str(SEEDS)] if SEEDS.is_dir() else []


def test_report_and_files(project, capsys):
    assert cli.main(["heterogeneity", "crs_any_incidence", "gc_pfs_family_hr", *_src()]) == 0
    out = capsys.readouterr().out
    assert "## Incidence of CRS, any grade" in out and "k = 2: τ² cannot be estimated reliably" in out
    # each run has a folder of its own, which `carsynth build` never overwrites
    run = project / "output" / "heterogeneity-runs" / "crs_any_incidence--gc_pfs_family_hr"
    data = json.loads((run / "crs_any_incidence" / "heterogeneity.json").read_text())
    assert data["k"] == 3 and len(data["leave_one_out"]) == 3 and len(data["influence"]) == 3
    assert data["bayes"]["prior"]["tau"] == "half-normal(scale 1)"  # logit scale default
    assert (run / "crs_any_incidence" / "baujat.png").is_file()
    assert (run / "crs_any_incidence" / "leave_one_out.png").is_file()
    assert (run / "heterogeneity.md").read_text().startswith("# Heterogeneity across cohorts")
    # never a bare verdict from I² thresholds
    assert "low heterogeneity" not in out and "moderate heterogeneity" not in out


def test_unknown_analysis_and_moderator_list_valid_names(project, capsys):
    assert cli.main(["heterogeneity", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown analysis 'nope'" in err and "crs_any_incidence" in err
    assert cli.main(["heterogeneity", "--moderator", "agee"]) == 2
    err = capsys.readouterr().err
    assert "unknown moderator 'agee'" in err and "age_group" in err


def test_missing_moderator_says_which_studies_and_runs_on_rest_only_if_asked(project, capsys):
    zhou = project / "studies" / "zhou2025.yaml"
    zhou.write_text("".join(l for l in zhou.read_text().splitlines(keepends=True)
                            if not l.strip().startswith("median_age:")))
    args = ["heterogeneity", "crs_any_incidence", "--moderator", "median_age", *_src()]
    code = cli.main(args)
    err = capsys.readouterr().err
    # this copy of Zhou 2025 has no median age
    assert code == 2 and "median_age' is missing for Zhou 2025" in err and "--allow-missing" in err
    assert cli.main(args + ["--allow-missing"]) == 0
    out = capsys.readouterr().out
    assert "median\\_age: missing for Zhou 2025 (run on the rest)" in out  # Markdown-escaped


def test_readings_respect_k():
    assert "single cohort" in reading({"k": 1}, {}, "OR")
    d = {"k": 3, "i2": 10.0, "i2_tau2": 12.0, "tau2": 0.01, "q_pval": 0.3, "i2_ci_lb": 0.0,
         "i2_ci_ub": 90.0, "pi_note": None}
    text = reading(d, {"pi_lb": 0.5, "pi_ub": 1.6}, "HR")
    assert "With only 3 studies" in text and "includes no heterogeneity (0%)" in text and "includes no effect" in text


def test_bayesian_model_needs_a_prior_where_there_is_no_default(project, capsys):
    """PLO has a default τ prior (half-normal(1)); PFT does not, so the report says so and
    runs the model only when --tau-prior gives a scale."""
    plan = project / "review.yaml"
    head = "title: Incidence of CRS, any grade\n    select: {kind: proportion, outcome: [crs_any]}\n"
    text = plan.read_text().replace(head + "    measure: PLO\n    model: {method: GLMM, "
                                    "primary: random}", head + "    measure: PFT")
    plan.write_text(text.replace(head + "    measure: PLO", head + "    measure: PFT"))
    assert head + "    measure: PFT\n" in plan.read_text()  # PFT, with the default model
    assert cli.main(["heterogeneity", "crs_any_incidence", *_src()]) == 0
    out = capsys.readouterr().out
    assert "no Bayesian model: there is no default τ prior on the PFT scale" in out
    runs = project / "output" / "heterogeneity-runs"
    data = json.loads((runs / "crs_any_incidence" / "crs_any_incidence" / "heterogeneity.json")
                      .read_text())
    assert "bayes" not in data
    assert cli.main(["heterogeneity", "crs_any_incidence", "--tau-prior", "0.2", *_src()]) == 0
    data = json.loads((runs / "crs_any_incidence--tau-prior-0.2" / "crs_any_incidence"
                       / "heterogeneity.json").read_text())
    assert data["bayes"]["prior"]["tau"] == "half-normal(scale 0.2)"
    assert data["bayes"]["mu"]["lower"] < data["bayes"]["mu"]["median"] < data["bayes"]["mu"]["upper"]
