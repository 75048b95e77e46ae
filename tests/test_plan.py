"""The review plan: output confinement, studies folder, sources list, plan discovery and
messages that say "plan" at the right line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthesis.plan import PlanError, find_plan, load_plan, locate_plan

ROOT = Path(__file__).resolve().parents[1]

ANALYSES = """analyses:
  - id: a
    title: A
    select: {kind: proportion, outcome: [crs_any]}
    measure: PLO
"""


def plan(tmp_path: Path, head: str, analyses: str = ANALYSES) -> Path:
    (tmp_path / "studies").mkdir(exist_ok=True)
    shutil.copyfile(ROOT / "studies" / "zhou2025.yaml", tmp_path / "studies" / "zhou2025.yaml")
    p = tmp_path / "review.yaml"
    p.write_text("review_version: 1\ntitle: T\n" + head + analyses)
    return p


def errors(p: Path) -> list[str]:
    with pytest.raises(PlanError) as exc:
        load_plan(p)
    return [str(m).split(":", 1)[1] for m in exc.value.messages]


@pytest.mark.parametrize("output, why", [
    ("/", "the output cannot be the file-system root"),
    (".", "the output cannot be the project folder ({root}) or inside it"),
    ("''", "output must name a folder, e.g. output"),
    ("studies", "the output cannot be the studies folder ({root}/studies) or inside it"),
    ("studies/out", "the output cannot be the studies folder ({root}/studies) or inside it"),
    ("../x", "a relative output must stay inside the project folder {root}; write an absolute "
             "path to put it elsewhere"),
    ("review.yaml", "the output cannot be the plan ({root}/review.yaml) or inside it"),
    ("/dev/null", "/dev/null exists and is not a folder"),
    ("papers", "the output cannot be a sources folder ({root}/papers) or inside it"),
    ("{parent}", "the output cannot hold the project folder ({root}): a build replaces its "
                 "output folder"),
])
def test_output_must_be_a_safe_folder(tmp_path, output, why):
    root = tmp_path / "proj"
    root.mkdir()
    p = plan(root, f"sources: papers\noutput: {output.format(parent=tmp_path)}\n")
    assert errors(p) == [f"4:9: error: output: {why.format(root=root)}"]


@pytest.mark.parametrize("output", ["output", "out/sub", "{tmp}/elsewhere"])
def test_output_inside_the_project_or_an_explicit_absolute_path(tmp_path, output):
    root = tmp_path / "proj"
    root.mkdir()
    p = plan(root, f"output: {output.format(tmp=tmp_path)}\n")
    assert load_plan(p).output == output.format(tmp=tmp_path)


def test_a_studies_folder_without_studies_is_an_error(tmp_path):
    p = plan(tmp_path, "studies: /etc\n")
    assert errors(p) == ["3:10: error: studies: the studies folder /etc holds no study files (*.yaml)"]
    p = plan(tmp_path, "studies: nowhere\n")
    assert errors(p) == [f"3:10: error: studies: the studies folder {tmp_path}/nowhere does not exist"]


def test_sources_may_be_a_list_and_a_missing_folder_is_not_an_error(tmp_path):
    p = plan(tmp_path, "sources: [papers, ../shared]\n")
    assert load_plan(p).source_folders(tmp_path) == [tmp_path / "papers",
                                                     (tmp_path / "../shared").resolve()]


def test_duplicate_analysis_id_is_reported_at_its_own_line(tmp_path):
    p = plan(tmp_path, "", ANALYSES + ANALYSES.replace("analyses:\n", "").replace("title: A",
                                                                                  "title: B"))
    assert errors(p) == ["8:9: error: analyses[1](a).id: analysis id 'a' is used twice (also "
                         "analyses[0])"]


def test_plan_messages_say_plan(tmp_path):
    p = plan(tmp_path, "x: &anchor 1\n")
    assert errors(p) == ["3:4: error: anchors (&anchor) are not allowed in the plan; write each "
                         "value out"]
    p.write_text("review_version: 1\n---\ntitle: T\n")
    assert errors(p) == ["2:1: error: the plan holds one YAML document; remove the second '---' "
                         "or split the file"]


def test_unknown_plan_key_at_its_key(tmp_path):
    p = plan(tmp_path, "sourcs: papers\n")
    assert errors(p) == ["3:1: error: sourcs: unknown field 'sourcs'"]


def test_plan_found_from_any_folder_inside_the_project(tmp_path):
    p = plan(tmp_path, "")
    (tmp_path / "studies" / "deep").mkdir()
    assert find_plan(tmp_path / "studies" / "deep") == p
    assert locate_plan(None, tmp_path / "studies") == p
    assert locate_plan("other.yaml", tmp_path) == Path("other.yaml")
    assert find_plan(Path("/")) is None or find_plan(Path("/")) == Path("/review.yaml")


def test_selection_options_are_validated_with_their_vocabulary(tmp_path):
    p = plan(tmp_path, "", ANALYSES.replace("outcome: [crs_any]}",
                                            "outcome: [crs_any], grade_scale: [astct], "
                                            "prefer: Largest}"))
    got = errors(p)
    assert len(got) == 2
    assert got[0].startswith("6:66: error: analyses[0](a).select.grade_scale[0]: expected one of "
                             "'penn', 'lee2014', 'astct2019'")
    assert got[1] == ("6:82: error: analyses[0](a).select.prefer: expected largest, most_recent "
                      "or a study id; found 'Largest'")
