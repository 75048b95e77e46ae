"""`carsynth source add`: sha256 and kind computed, entries appended by a line edit that
leaves every other byte of the study file as it was."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from extract.sources import NewSource, SourceRefused, append_sources, detect_kind
from extract.yamlio import load_yaml
from synthesis.cli import main

ROOT = Path(__file__).resolve().parents[1]
SEED_STUDY = ROOT / "studies" / "zhou2025.yaml"

PLAN = """review_version: 1
title: T
studies: studies
sources: [papers, more]
analyses:
  - {id: a, title: A, select: {kind: proportion, outcome: [crs_any]}, measure: PLO}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "studies").mkdir()
    (tmp_path / "papers").mkdir()
    (tmp_path / "more").mkdir()
    (tmp_path / "review.yaml").write_text(PLAN)
    shutil.copyfile(SEED_STUDY, tmp_path / "studies" / "zhou2025.yaml")
    monkeypatch.chdir(tmp_path / "studies")  # the plan is found from a sub-folder
    monkeypatch.delenv("CARSYNTH_SOURCES", raising=False)
    return tmp_path


def test_add_appends_and_leaves_the_rest_byte_identical(project, capsys):
    study = project / "studies" / "zhou2025.yaml"
    before = study.read_bytes()
    (project / "more" / "abstract.txt").write_text("CRS in 5 of 10.\n")
    pdf = project / "papers" / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%fake body\n")
    code = main(["source", "add", "zhou2025", str(pdf), str(project / "more" / "abstract.txt"),
                 "--abstract"])
    assert code == 0
    after = study.read_bytes()
    added = (b"  - file: paper.pdf\n"
             b"    sha256: " + hashlib.sha256(pdf.read_bytes()).hexdigest().encode() + b"\n"
             b"    kind: pdf\n"
             b"  - file: abstract.txt\n"
             b"    sha256: " + hashlib.sha256(b"CRS in 5 of 10.\n").hexdigest().encode() + b"\n"
             b"    kind: abstract\n")
    # the new entries sit right after the last existing source; nothing else changed
    anchor = b"    rendering: text converted from the publisher PDF, with Tables 1-2\n"
    assert before.count(anchor) == 1
    assert after == before.replace(anchor, anchor + added)
    out = capsys.readouterr().out
    assert "added source paper.pdf (pdf, sha256" in out and "added source abstract.txt (abstract" in out
    # adding again changes nothing
    assert main(["source", "add", "zhou2025", str(pdf)]) == 0
    assert study.read_bytes() == after
    assert "paper.pdf: already listed" in capsys.readouterr().out


def test_add_refuses_a_file_outside_the_sources_folders_unless_copied(project, capsys):
    outside = project / "elsewhere.txt"
    outside.write_text("text\n")
    before = (project / "studies" / "zhou2025.yaml").read_bytes()
    assert main(["source", "add", "zhou2025", str(outside)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"carsynth source: {outside} is not inside a sources folder")
    assert (project / "studies" / "zhou2025.yaml").read_bytes() == before
    assert main(["source", "add", "zhou2025", str(outside), "--copy"]) == 0
    assert (project / "papers" / "elsewhere.txt").read_text() == "text\n"


def test_a_changed_file_is_not_silently_re_added(project, capsys):
    f = project / "papers" / "p.txt"
    f.write_text("one\n")
    assert main(["source", "add", "zhou2025", str(f)]) == 0
    f.write_text("two\n")
    assert main(["source", "add", "zhou2025", str(f)]) == 2
    assert "listed with another sha256" in capsys.readouterr().err


def test_crlf_comments_and_a_last_line_without_newline():
    text = ("id: x\r\nsources:\r\n  - file: a.txt\r\n    sha256: " + "0" * 64 + "\r\n"
            "    kind: text\r\n  # a comment that stays below\r\nrecords: []")
    out = append_sources(text, [NewSource("b.txt", "1" * 64, "text")])
    assert out == ("id: x\r\nsources:\r\n  - file: a.txt\r\n    sha256: " + "0" * 64 + "\r\n"
                   "    kind: text\r\n  - file: b.txt\r\n    sha256: " + "1" * 64 + "\r\n"
                   "    kind: text\r\n  # a comment that stays below\r\nrecords: []")
    assert len(load_yaml(out).data["sources"]) == 2
    # sources as the last block, no final newline
    out = append_sources("id: x\nsources:\n- file: a.txt", [NewSource("b c.txt", "1" * 64, "pdf")])
    assert out == "id: x\nsources:\n- file: a.txt\n- file: 'b c.txt'\n  sha256: " + "1" * 64 + \
        "\n  kind: pdf\n"


def test_flow_style_sources_are_left_to_the_user():
    with pytest.raises(SourceRefused):
        append_sources("sources: [{file: a}]\n", [NewSource("b", "1" * 64, "text")])


def test_detect_kind(tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.7 ...")
    (tmp_path / "b.pdf").write_bytes(b"not a pdf")  # the name does not decide
    assert detect_kind(tmp_path / "a.pdf") == "pdf"
    assert detect_kind(tmp_path / "b.pdf") == "text"
    assert detect_kind(tmp_path / "b.pdf", abstract=True) == "abstract"


def test_version_and_help_on_every_argument(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("carsynth ")
    from synthesis.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("validate", "source", "schema"):
        cmd = sub.choices[name]
        actions = list(cmd._actions)
        if name == "source":
            actions = list(next(a for a in actions if a.dest == "source_command").choices["add"]._actions)
        for a in actions:
            assert a.help, f"{name} {a.dest} has no help"
