"""`carsynth build` end to end: outputs, determinism, incrementality, bad input, new studies."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from synthesis import cli
from synthesis.build import BuildError, build
from synthesis.plan import PlanError, load_plan

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"


@pytest.fixture()
def project(tmp_path):
    """A copy of the shipped review (plan + studies) in a temp folder."""
    shutil.copy(REPO / "review.yaml", tmp_path / "review.yaml")
    shutil.copytree(REPO / "studies", tmp_path / "studies")
    return tmp_path


def _sources():
    return SEEDS if SEEDS.is_dir() else None


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "results.csv", newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_full_build_writes_every_output(project):
    rep = build(project / "review.yaml", sources=_sources(), jobs=1)
    out = project / "output"
    plan = load_plan(project / "review.yaml")
    for a in plan.analyses:
        for f in ("forest.png", "forest.svg", "forest.pdf", "result.json"):
            assert (out / a.id / f).is_file(), f"{a.id}/{f} missing"
    assert (out / "index.html").is_file() and (out / "results.md").is_file()
    rows = _rows(out)
    assert set(rows) == {a.id for a in plan.analyses}
    # GC vs no GC, CR at day 30 (Zhang 2025: 53/55 vs 40/46): one study, its own OR
    gc = rows["gc_cr"]
    assert gc["k"] == "1" and float(gc["estimate"]) == pytest.approx(53 * 6 / (2 * 40), rel=1e-5)
    assert "single study" in gc["note"]
    assert sorted(rep.built) == sorted(a.id for a in plan.analyses)
    # a single study has no I²: the Markdown table says "—", not "—%"
    md_row = next(line for line in (out / "results.md").read_text().splitlines()
                  if line.startswith("| [GC vs no GC — complete response"))
    assert md_row.split(" | ")[6] == "—" and "—%" not in md_row


def test_result_json_traces_numbers_to_quotes_and_lists_unpoolable(project):
    build(project / "review.yaml", sources=_sources(), jobs=1, only=["tcz_cr", "crs_any_incidence"])
    info = json.loads((project / "output" / "tcz_cr" / "result.json").read_text())
    prov = info["studies"][0]["provenance"]
    assert prov["file"] == "studies/zhang2025.yaml" and prov["record"] == "cr_day30_by_tcz"
    assert any("74" in q["text"] for q in prov["quotes"])
    reasons = {n["label"]: n["reason"] for n in info["not_pooled"]}
    assert "Ma 2024" in reasons and "reported p = 1" in reasons["Ma 2024"]
    assert "Zhou 2025" in reasons and "p = 0.616" in reasons["Zhou 2025"]
    crs = json.loads((project / "output" / "crs_any_incidence" / "result.json").read_text())
    assert crs["k"] == 3 and crs["funnel"] is None and "k = 3 < 10" in crs["funnel_note"]


def test_built_numbers_match_metafor(project):
    """The shipped CRS incidence analysis as built: its inverse-variance sensitivity row
    against metafor's rma(measure="PLO", method="REML", test="adhoc") on the same counts
    (engine_cases.json, build_crs_any_incidence, from make_engine_fixtures.R), and its GLMM
    against rma.glmm (glmm_cases.json, seed_crs_any)."""
    cases = json.loads((REPO / "tests" / "fixtures" / "metafor" / "engine_cases.json").read_text())
    ref = next(c for c in cases if c["id"] == "build_crs_any_incidence")
    build(project / "review.yaml", sources=_sources(), jobs=1, only=["crs_any_incidence"])
    built = json.loads((project / "output" / "crs_any_incidence" / "result.json").read_text())
    # the plan pools incidence with a GLMM; the inverse-variance model is its sensitivity row
    info = built["sensitivity"][0]
    assert [s["study"] for s in info["studies"]] == ref["input"]["study"]
    assert info["method"] == "REML" and info["ci_type"] == "hksj-adhoc"
    for key in ("estimate", "se", "tau2", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "q", "i2",
                "tau2_ci_ub"):
        assert info[key] == pytest.approx(ref["result"][key], rel=1e-6), key
    assert info["tau2_ci_lb"] == ref["result"]["tau2_ci_lb"] == 0
    assert info["backtransformed"]["estimate"] == pytest.approx(ref["result"]["proportion"],
                                                                rel=1e-6)
    # the GLMM itself against metafor's rma.glmm (tests/fixtures/metafor/glmm, seed_crs_any)
    glmm = next(c for c in json.loads((REPO / "tests" / "fixtures" / "metafor" / "glmm"
                                       / "glmm_cases.json").read_text())["cases"]
                if c["id"] == "seed_crs_any")["tight"]
    assert built["method"] == "GLMM" and built["ci_type"] == "wald"
    for key in ("estimate", "se", "ci_lb", "ci_ub"):
        assert built[key] == pytest.approx(glmm[key], rel=1e-4), key
    assert built["tau2"] == pytest.approx(glmm["tau2"], rel=1e-3)


def test_outputs_are_byte_identical_and_rebuild_is_incremental(project, tmp_path):
    out1, out2 = project / "o1", project / "o2"
    build(project / "review.yaml", output=out1, sources=_sources(), jobs=2)
    build(project / "review.yaml", output=out2, sources=_sources(), jobs=1)
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file()
                    and p.name != ".carsynth-state.json")
    assert files1 and files1 == sorted(p.relative_to(out2) for p in out2.rglob("*") if p.is_file()
                                       and p.name != ".carsynth-state.json")
    for rel in files1:
        assert (out1 / rel).read_bytes() == (out2 / rel).read_bytes(), f"{rel} differs"
    again = build(project / "review.yaml", output=out1, sources=_sources())
    assert again.built == [] and again.written == []
    forced = build(project / "review.yaml", output=out1, sources=_sources(), force=True,
                   only=["gc_cr"])
    assert forced.built == ["gc_cr"] and forced.written == []  # same bytes: nothing rewritten


def test_a_rebuild_with_nothing_changed_redoes_no_review_wide_work(project, monkeypatch):
    """The review-wide outputs (SoF refits, overview) are redone only when the plan, a study
    or one of those files changed, not on every build."""
    out = project / "output"
    build(project / "review.yaml", sources=_sources(), jobs=1)
    import synthesis.appraisal.review as review_module

    def refit(*args, **kwargs):
        raise AssertionError("the review-wide appraisal was refitted with nothing changed")

    with monkeypatch.context() as m:
        m.setattr(review_module, "review_appraisal", refit)
        again = build(project / "review.yaml", sources=_sources(), jobs=1)
    assert again.built == [] and again.written == [] and "results.md" in again.unchanged
    (out / "overview.svg").write_text("damaged")  # a review-wide file changed by hand
    repaired = build(project / "review.yaml", sources=_sources(), jobs=1)
    assert repaired.written == ["overview.svg"] and (out / "overview.svg").read_bytes() != b"damaged"
    plan = project / "review.yaml"  # the plan's title is only in review-wide files
    plan.write_text(plan.read_text().replace("\ntitle: ", "\ntitle: Renamed — ", 1))
    renamed = build(project / "review.yaml", sources=_sources(), jobs=1)
    assert renamed.built == [] and "results.md" in renamed.written
    assert (out / "results.md").read_text().startswith("# Renamed — ")


def test_new_study_joins_every_matching_analysis_without_plan_edit(project):
    build(project / "review.yaml", sources=_sources(), jobs=1)
    before = _rows(project / "output")
    shutil.copy(REPO / "tests" / "data" / "lee2026.yaml", project / "studies" / "lee2026.yaml")
    rep = build(project / "review.yaml", sources=_sources(), jobs=1)
    after = _rows(project / "output")
    for a_id in ("gc_cr", "crs_any_incidence", "gc_pfs_family_hr", "cr_rate"):
        if a_id == "cr_rate":
            continue  # lee2026 reports CR only by group, not a cohort proportion
        assert int(after[a_id]["k"]) == int(before[a_id]["k"]) + 1, a_id
        assert a_id in rep.built
    assert "tcz_cr" in rep.skipped  # analyses the new study does not touch are not redone


def test_invalid_study_stops_build_and_keeps_outputs(project):
    build(project / "review.yaml", sources=_sources(), jobs=1, only=["gc_cr"])
    png = project / "output" / "gc_cr" / "forest.png"
    before = png.read_bytes()
    bad = (project / "studies" / "zhang2025.yaml").read_text().replace(
        "events: 53", "events: 530", 1)
    (project / "studies" / "zhang2025.yaml").write_text(bad)
    with pytest.raises(BuildError) as exc:
        build(project / "review.yaml", sources=_sources(), jobs=1)
    assert any("exceed" in line for line in exc.value.lines)
    assert "previous outputs left untouched" in exc.value.lines[-1]
    assert png.read_bytes() == before


def test_failed_render_writes_nothing(project, monkeypatch):
    build(project / "review.yaml", sources=_sources(), jobs=1, only=["gc_cr"])
    snapshot = {p: p.read_bytes() for p in (project / "output").rglob("*") if p.is_file()}
    import synthesis.build as b

    real = b.render
    calls = {"n": 0}

    def flaky(a, data, studies=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return real(a, data, studies)

    monkeypatch.setattr(b, "render", flaky)
    with pytest.raises(RuntimeError):
        build(project / "review.yaml", sources=_sources(), jobs=1, force=True)
    after = {p: p.read_bytes() for p in (project / "output").rglob("*") if p.is_file()}
    assert after == snapshot
    assert not list((project / "output").rglob("*.tmp"))


def test_bad_plan_reports_file_line_and_field(project):
    text = (project / "review.yaml").read_text().replace("measure: OR\n", "measure: XX\n", 1)
    (project / "review.yaml").write_text(text)
    with pytest.raises(PlanError) as exc:
        load_plan(project / "review.yaml")
    msg = str(exc.value.messages[0])
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "measure: XX" in l)
    assert f"review.yaml:{line}:" in msg and "measure" in msg and "'XX'" in msg


def test_cli_build_exit_codes(project, capsys, monkeypatch):
    monkeypatch.chdir(project)
    args = ["build", "--only", "gc_cr", "--quiet"]
    if SEEDS.is_dir():
        args += ["--sources", str(SEEDS)]
    assert cli.main(args) == 0
    assert cli.main(["build", "--only", "nope"]) == 1
    assert "unknown analysis 'nope'" in capsys.readouterr().err
    assert cli.main(["build", "--plan", "missing.yaml"]) == 2


def test_a_printed_ci_at_another_level_is_shown_as_printed_and_marked(project):
    """A study's 90% CI is drawn as printed, with a footnote naming its level; the
    pooled and computed intervals stay at the plan's 95%."""
    from synthesis.pipeline import fit_analysis, load_studies
    from synthesis.report.forest_layout import forest_spec
    from synthesis.select import select

    ma = project / "studies" / "ma2024.yaml"
    ma.write_text(ma.read_text().replace("    ci_upper: 1.458\n",
                                         "    ci_upper: 1.458\n    ci_level: 0.9\n", 1))
    plan = load_plan(project / "review.yaml")
    studies, _ = load_studies(plan, project, _sources())
    hits = 0
    for a in plan.analyses:
        if a.select.kind != "ratio":
            continue
        data = select(a, studies)
        for c in data.contributions:
            if c.record.ci_upper == 1.458:
                spec = forest_spec(fit_analysis(a, data))
                row = next(r for r in spec.rows if r.kind == "study" and r.label == c.label)
                assert (row.est, row.lo, row.hi) == (0.698, 0.334, 1.458)
                note = [f for f in spec.footnotes if "90% CI as printed" in f]
                assert note and "other intervals are 95%" in note[0], spec.footnotes
                assert int(note[0].split()[0]) in row.marks
                hits += 1
    assert hits, "no analysis uses the edited record"
