"""`carsynth validate`: the broken-file corpus, provenance against sources, duplicates, the CLI.

The corpus is tests/broken/*.yaml. Each broken file is tests/broken/valid_minimal.yaml with
one thing broken, and begins with one `# expect: LINE:COL: SEVERITY: PATH: MESSAGE` line per
message the validator must print for it (relative to the file, without the file name; the
token {sources} stands for the sources directory). The test asserts that the errors and the
warnings printed equal the expected ones exactly. valid_minimal.yaml has no `# expect:` line:
it must validate with no message at all. Its source document is tests/broken/sources/minimal.txt.

(The base cannot be called `_valid_minimal.yaml`: a study id must equal the file name and ids
are slugs, `^[a-z0-9][a-z0-9_]*$`, so a leading underscore would itself be an error.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from extract.validate import validate_paths
from extract.yamlio import MAX_BYTES, YamlInputError, load_yaml
from synthesis.cli import main

ROOT = Path(__file__).resolve().parents[1]
BROKEN = Path(__file__).resolve().parent / "broken"
SOURCES = BROKEN / "sources"
VALID = BROKEN / "valid_minimal.yaml"
CORPUS = sorted(p for p in BROKEN.glob("*.yaml") if p != VALID)
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
MINIMAL_SHA = "eacea85d16c9cd1cf9df69903b65fb57c0a4c9ffd5671fbda0a6cc1eedfa89dc"

_LINE = re.compile(r"^(\d+):(\d+): (error|warning): ")

# Every corpus file shares the base's DOI, registration and source document, and a file is
# checked against every other study in its folder; so each is validated from a folder of
# its own (a copy under a temporary directory) unless a test wants the files together.
_ISOLATED: dict[Path, Path] = {}
_ISO_ROOT: list[Path] = []


def isolate(path: Path) -> Path:
    """A copy of ``path`` alone in a folder of its own."""
    if path not in _ISOLATED:
        if not _ISO_ROOT:
            _ISO_ROOT.append(Path(tempfile.mkdtemp(prefix="carsynth-corpus-")))
        folder = _ISO_ROOT[0] / path.stem
        folder.mkdir()
        shutil.copyfile(path, folder / path.name)
        _ISOLATED[path] = folder / path.name
    return _ISOLATED[path]


def teardown_module():
    for root in _ISO_ROOT:
        shutil.rmtree(root, ignore_errors=True)


# --- helpers -----------------------------------------------------------------------


def expectations(path: Path) -> tuple[list[str], list[str]]:
    """The `# expect:` lines of a corpus file, split into (errors, warnings), sorted."""
    errors, warnings = [], []
    for raw in path.read_bytes().splitlines():
        if not raw.startswith(b"# expect: "):
            continue
        line = raw[len(b"# expect: "):].decode("utf-8").replace("{sources}", str(SOURCES))
        m = _LINE.match(line)
        assert m, f"{path.name}: malformed expect line {line!r}"
        (errors if m.group(3) == "error" else warnings).append(line)
    return sorted(errors), sorted(warnings)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def validate_text(capsys, path: Path, *extra: str) -> tuple[int, list[str], list[str], str]:
    """Validate one file in text mode: (exit code, error lines, warning lines, summary line).

    Message lines are returned without the leading 'FILE:' so they compare with `# expect:`.
    """
    code, out, err = run_cli(capsys, "validate", str(path), *extra)
    assert err == ""
    lines = out.splitlines()
    summary = lines[-1]
    errors, warnings = [], []
    prefix = f"{path}:"
    for line in lines[:-1]:
        assert line.startswith(prefix), line
        rest = line[len(prefix):]
        m = _LINE.match(rest)
        assert m, line
        (errors if m.group(3) == "error" else warnings).append(rest)
    return code, sorted(errors), sorted(warnings), summary


def base_body() -> str:
    """valid_minimal.yaml without its leading comment lines."""
    return "".join(l for l in VALID.read_text().splitlines(keepends=True) if not l.startswith("#"))


def write_variant(path: Path, *replacements: tuple[str, str], body: str | None = None) -> Path:
    """Write the valid base under `path` (its id set to the file stem) with replacements."""
    text = body if body is not None else base_body()
    text = text.replace("id: valid_minimal\n", f"id: {path.stem}\n", 1)
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def strip_file(line: str, path: Path) -> str:
    assert line.startswith(f"{path}:"), line
    return line[len(f"{path}:"):]


@pytest.fixture
def no_sources_env(monkeypatch):
    monkeypatch.delenv("CARSYNTH_SOURCES", raising=False)


# --- the corpus ----------------------------------------------------------------------


def test_corpus_is_large_and_every_broken_file_says_what_it_expects():
    assert len(CORPUS) >= 35
    for path in CORPUS:
        errors, warnings = expectations(path)
        assert errors or warnings, f"{path.name} has no '# expect:' line"
        assert path.read_bytes().startswith(b"# expect: "), f"{path.name}: first line must be '# expect:'"
    assert expectations(VALID) == ([], [])


def test_valid_base_passes_with_no_message(capsys):
    code, errors, warnings, summary = validate_text(capsys, isolate(VALID), "--sources", str(SOURCES))
    assert (code, errors, warnings) == (0, [], [])
    assert summary == "1 study file checked: 0 errors, 0 warnings"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus(path, capsys):
    want_errors, want_warnings = expectations(path)
    code, errors, warnings, summary = validate_text(capsys, isolate(path), "--sources", str(SOURCES))
    assert errors == want_errors
    assert warnings == want_warnings
    assert code == (1 if want_errors else 0)
    n_e, n_w = len(want_errors), len(want_warnings)
    assert summary == (f"1 study file checked: {n_e} error{'s' if n_e != 1 else ''}, "
                       f"{n_w} warning{'s' if n_w != 1 else ''}")


def test_corpus_through_a_real_subprocess():
    """One real `python -m synthesis validate FILE...` run over every broken file.

    Files validated together also share the base's DOI, registration and source, so besides
    each file's own expected lines the only other messages allowed are duplicate errors.
    """
    rel = [str(p.relative_to(ROOT)) for p in CORPUS]
    env = dict(os.environ, CARSYNTH_SOURCES=str(SOURCES))
    env.pop("CARSYNTH_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "synthesis", "validate", *rel],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.stderr == ""
    assert r.returncode == 1
    printed = r.stdout.splitlines()
    assert printed[-1].startswith(f"{len(CORPUS)} study files checked: ")
    by_file: dict[str, list[str]] = {name: [] for name in rel}
    for line in printed[:-1]:
        name = line.split(":", 1)[0]
        by_file[name].append(line[len(name) + 1:])
    for path, name in zip(CORPUS, rel):
        want_errors, want_warnings = expectations(path)
        got = by_file[name]
        missing = [w for w in want_errors + want_warnings if w not in got]
        assert not missing, f"{name}: {missing}"
        extra = [g for g in got if g not in want_errors + want_warnings]
        assert all(": error: " in g and "shares its" in g for g in extra), f"{name}: {extra}"


def test_broken_files_with_errors_exit_1_one_by_one(capsys):
    """Every broken file with an expected error exits 1 on its own; warning-only files exit 0."""
    for path in CORPUS:
        want_errors, _ = expectations(path)
        code, _, _ = run_cli(capsys, "validate", str(isolate(path)), "--sources", str(SOURCES))
        assert code == (1 if want_errors else 0), path.name


def test_not_utf8_file_kept_its_latin1_byte():
    """The committed non-UTF-8 file must not have been 'repaired' by git or an editor."""
    data = (BROKEN / "yaml_not_utf8.yaml").read_bytes()
    assert b"r\xe9ponse" in data
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert hashlib.sha256((SOURCES / "minimal.txt").read_bytes()).hexdigest() == MINIMAL_SHA


# --- hostile and malformed input, generated --------------------------------------------


def test_alias_bomb_is_refused_before_expansion(tmp_path, capsys):
    # 20 levels of ten aliases each would expand to 10^20 items
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 21):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    code, out, _ = run_cli(capsys, "validate", str(bomb))
    assert time.perf_counter() - t0 < 2.0
    assert code == 1
    assert out.splitlines()[0] == (
        f"{bomb}:1:5: error: anchors (&a0) are not allowed in study files; write each value out")


def test_alias_alone_is_refused():
    with pytest.raises(YamlInputError) as exc:
        load_yaml("schema_version: 1\nid: *other\n")
    assert (exc.value.line, exc.value.col) == (2, 5)
    assert exc.value.message == ("anchors and aliases (*name) are not allowed in study files; "
                                 "write each value out")


def test_huge_file_is_refused_fast(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    text = "schema_version: 1\nnotes: |\n" + ("  " + "x" * 98 + "\n") * (MAX_BYTES // 100 + 10)
    big.write_text(text)
    size = big.stat().st_size
    assert size > MAX_BYTES
    t0 = time.perf_counter()
    code, out, _ = run_cli(capsys, "validate", str(big))
    assert time.perf_counter() - t0 < 2.0
    assert code == 1
    assert out.splitlines() == [
        f"{big}:1:1: error: file is {size:,} bytes; the limit is 2,000,000 bytes for one study file",
        "1 study file checked: 1 error, 0 warnings",
    ]


@pytest.mark.parametrize(
    "data, line, col, byte",
    [
        (b"schema_version: 1\nid: x\ncitation:\n  title: caf\xe9\n", 4, 13, "0xe9"),
        (b"\xff\xfes\x00c\x00h\x00", 1, 1, "0xff"),  # UTF-16 with a BOM, as some editors save
        (b"id: ok\nnotes: \xe2\x80\n", 2, 8, "0xe2"),  # a UTF-8 sequence cut short
    ],
    ids=["latin1", "utf16", "truncated"],
)
def test_non_utf8_written_by_the_test(tmp_path, capsys, data, line, col, byte):
    path = tmp_path / "enc.yaml"
    path.write_bytes(data)
    code, errors, warnings, _ = validate_text(capsys, path)
    assert code == 1
    assert errors == [f"{line}:{col}: error: file is not valid UTF-8 (byte {byte}); save it as UTF-8"]


def test_utf8_bom_and_crlf_are_accepted(tmp_path, capsys):
    path = tmp_path / "bom_crlf.yaml"
    text = base_body().replace("id: valid_minimal\n", "id: bom_crlf\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    code, errors, warnings, _ = validate_text(capsys, path, "--sources", str(SOURCES))
    assert (code, errors, warnings) == (0, [], [])


# --- provenance: quotes against source documents ------------------------------------------

_TINY = """\
schema_version: 1
id: {id}
citation: {{authors: [Doe J], title: T, journal: J, year: 2024}}
design: {{type: retrospective, centres: single}}
population: {{age_group: adult, disease_status: relapsed/refractory, car_targets: [CD19], car_origin: autologous}}
sources:
  - {{file: paper.txt, sha256: {sha}, kind: text}}
extraction: {{extractor: {{name: A, date: 2026-11-01}}}}
records:
  - id: crs_any
    kind: proportion
    outcome: crs_any
    events: 50
    total: 60
    percent: 83.33
    quotes:
      - text: {quote}
"""


def tiny_study(tmp_path: Path, source_text: str | bytes, quote: str, sha: str | None = None,
               study_id: str = "tiny") -> tuple[Path, Path]:
    """A one-record study in tmp_path/studies quoting tmp_path/sources/paper.txt."""
    src_dir = tmp_path / "sources"
    src_dir.mkdir(exist_ok=True)
    data = source_text.encode("utf-8") if isinstance(source_text, str) else source_text
    (src_dir / "paper.txt").write_bytes(data)
    sha = sha or hashlib.sha256(data).hexdigest()
    study = tmp_path / "studies" / f"{study_id}.yaml"
    study.parent.mkdir(exist_ok=True)
    study.write_text(_TINY.format(id=study_id, sha=sha, quote=json.dumps(quote, ensure_ascii=False)),
                     encoding="utf-8")
    return study, src_dir


QUOTE = "CRS occurred in 50 of 60 patients (83.33%)"


@pytest.mark.parametrize(
    "source, quote",
    [
        ("Results. CRS  occurred\nin 50 of\t60 patients\n\n(83.33%).", QUOTE),
        ("Results. CRS occurred\r\nin 50 of 60 patients (83.33%).\r\n", QUOTE),
        ("CRS occurred in 50\u00a0of 60 patients (83.33%)", QUOTE),  # no-break space
        ("CRS (grade 1\u20134) occurred in 50 of 60 patients (83.33%)",
         "CRS (grade 1-4) occurred in 50 of 60 patients (83.33%)"),  # en dash in the paper
        ("CRS (grade 1-4) occurred in 50 of 60 patients (83.33%)",
         "CRS (grade 1\u20134) occurred in 50 of 60 patients (83.33%)"),  # en dash in the quote
        ("CRS (grade 1\u22124) occurred in 50 of 60 patients (83.33%)",
         "CRS (grade 1\u20144) occurred in 50 of 60 patients (83.33%)"),  # minus vs em dash
        ("signi\ufb01cant CRS occurred in 50 of 60 patients (83.33%)",
         "significant CRS occurred in 50 of 60 patients (83.33%)"),  # fi ligature in the paper
        ("significant CRS occurred in 50 of 60 patients (83.33%)",
         "signi\ufb01cant CRS occurred in 50 of 60 patients (83.33%)"),  # ligature in the quote
        ("CRS oc-\ncurred in 50 of 60 patients (83.33%)", QUOTE),  # hyphenated at a line break
        ("anti-CD19 CAR-\nT recipients: CRS in 50 of 60 patients (83.33%)",
         "CAR-T recipients: CRS in 50 of 60 patients (83.33%)"),  # a real hyphen at a line break
        ("CRS oc\u00ad\ncurred in 50 of 60 patients (83.33%)", QUOTE),  # soft hyphen at a line end
    ],
    ids=["spaces-tabs-newlines", "crlf", "nbsp", "en-dash-source", "en-dash-quote", "minus-em-dash",
         "ligature-source", "ligature-quote", "hyphenation", "kept-hyphen", "soft-hyphen-eol"],
)
def test_quote_matches_after_normalisation(tmp_path, capsys, source, quote):
    study, src = tiny_study(tmp_path, source, quote)
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(src))
    assert (code, errors, warnings) == (0, [], [])


@pytest.mark.parametrize(
    "source, quote",
    [
        (QUOTE, "CRS occurred in 50 of 60 patients ( 83.33%)"),
        (QUOTE, "CRS occured in 50 of 60 patients (83.33%)"),  # one letter dropped
        ("CRS occurred in 50 of 60 patients (83.38%)", QUOTE),  # one digit differs in the paper
        ("CRS occurred in 50 of 60 patients (83.33%)", "CRS occurred in 50 of 60 pa-tients (83.33%)"),
        ("CRS oc-\ncurred in 50 of 60 patients (83.33%)", "CRS oc curred in 50 of 60 patients (83.33%)"),
    ],
    ids=["space-inside-bracket", "letter-dropped", "digit-changed", "hyphen-added", "hyphen-as-space"],
)
def test_altered_quote_is_not_found(tmp_path, capsys, source, quote):
    study, src = tiny_study(tmp_path, source, quote)
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(src))
    assert code == 1
    assert warnings == []
    shown = " ".join(quote.split())
    assert errors == [f'17:15: error: records[0](crs_any).quotes[0].text: quote not found in paper.txt: "{shown}"']


def test_wrong_sha256_is_an_error(tmp_path, capsys):
    wrong = "ab" * 32  # not "0" * 64: YAML would read that as the integer 0
    study, src = tiny_study(tmp_path, QUOTE, QUOTE, sha=wrong)
    actual = hashlib.sha256(QUOTE.encode()).hexdigest()
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(src))
    assert code == 1
    assert errors == [f"7:31: error: sources[0].sha256: sha256 of paper.txt is {actual}, not the "
                      "recorded one; the document changed or this is a different file"]
    assert warnings == []


def test_missing_source_document_is_a_warning_and_quotes_are_not_verified(tmp_path, capsys):
    study, src = tiny_study(tmp_path, QUOTE, "this quote is not in any paper: 50 of 60 (83.33%)")
    (src / "paper.txt").unlink()
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(src))
    assert code == 0
    assert errors == []
    assert warnings == [f"7:12: warning: sources[0].file: source document 'paper.txt' not found in "
                        f"{src}; quotes were not verified against it"]


def test_no_sources_directory_is_a_warning(tmp_path, capsys, no_sources_env):
    study, src = tiny_study(tmp_path, QUOTE, "not in the paper: 50 of 60 (83.33%)")
    shutil.rmtree(src)
    code, errors, warnings, _ = validate_text(capsys, study)
    assert (code, errors) == (0, [])
    assert warnings == ["7:3: warning: sources: no sources directory found (use --sources DIR, the "
                        "plan's sources: or CARSYNTH_SOURCES); quotes were not verified"]


def test_sources_found_beside_studies_and_through_the_environment(tmp_path, capsys, monkeypatch,
                                                                   no_sources_env):
    bad = "CRS occurred in 50 of 60 children (83.33%)"
    study, src = tiny_study(tmp_path, QUOTE, bad)
    want = [f'17:15: error: records[0](crs_any).quotes[0].text: quote not found in paper.txt: "{bad}"']
    # sources/ beside studies/
    code, errors, warnings, _ = validate_text(capsys, study)
    assert (code, errors, warnings) == (1, want, [])
    # CARSYNTH_SOURCES wins over sources/ beside studies/
    moved = tmp_path / "elsewhere"
    src.rename(moved)
    monkeypatch.setenv("CARSYNTH_SOURCES", str(moved))
    code, errors, warnings, _ = validate_text(capsys, study)
    assert (code, errors, warnings) == (1, want, [])


def test_quote_source_must_be_one_of_the_studys_sources(tmp_path, capsys):
    study, src = tiny_study(tmp_path, QUOTE, QUOTE)
    text = study.read_text().replace(f"      - text: {json.dumps(QUOTE)}\n",
                                     f"      - text: {json.dumps(QUOTE)}\n        source: paper.pdf\n")
    study.write_text(text)
    code, errors, _, _ = validate_text(capsys, study, "--sources", str(src))
    assert errors == ["18:17: error: records[0](crs_any).quotes[0].source: 'paper.pdf' is not one "
                      "of this study's sources (did you mean 'paper.txt'?)"]


def make_pdf_study(tmp_path: Path, pages: list[str], quote: str, page: int) -> tuple[Path, Path]:
    """A one-record study quoting a PDF source made of `pages` (one line of text each)."""
    pymupdf = pytest.importorskip("pymupdf")
    src = tmp_path / "sources"
    src.mkdir(exist_ok=True)
    doc = pymupdf.open()
    for text in pages:
        doc.new_page().insert_text((72, 72), text)
    doc.save(src / "paper.pdf")
    sha = hashlib.sha256((src / "paper.pdf").read_bytes()).hexdigest()
    text = _TINY.format(id="pdfstudy", sha=sha, quote=json.dumps(quote)).replace(
        "{file: paper.txt", "{file: paper.pdf").replace("kind: text}", "kind: pdf}")
    study = tmp_path / "pdfstudy.yaml"
    study.write_text(text + f"        page: {page}\n")
    return study, src


def test_pdf_source_page_is_checked(tmp_path, capsys):
    pages = [QUOTE, "Discussion. Nothing to see here."]
    study, src = make_pdf_study(tmp_path, pages, QUOTE, 1)
    assert validate_text(capsys, study, "--sources", str(src))[:3] == (0, [], [])
    study, src = make_pdf_study(tmp_path, pages, QUOTE, 2)
    code, errors, _, _ = validate_text(capsys, study, "--sources", str(src))
    assert (code, errors) == (1, ["18:15: error: records[0](crs_any).quotes[0].page: the quote is on "
                                  "page 1 of paper.pdf, not page 2"])
    study, src = make_pdf_study(tmp_path, pages, QUOTE, 5)
    code, errors, _, _ = validate_text(capsys, study, "--sources", str(src))
    assert (code, errors) == (1, [
        "18:15: error: records[0](crs_any).quotes[0].page: paper.pdf has 2 pages",
        "18:15: error: records[0](crs_any).quotes[0].page: the quote is on page 1 of paper.pdf, "
        "not page 5"])


def test_pdf_quote_running_onto_the_next_page_matches(tmp_path, capsys):
    pages = ["Results. CRS occurred in 50 of", "60 patients (83.33%). Discussion."]
    study, src = make_pdf_study(tmp_path, pages, QUOTE, 1)
    assert validate_text(capsys, study, "--sources", str(src))[:3] == (0, [], [])


# --- provenance against the real seed papers -------------------------------------------


@pytest.fixture
def seeds() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("seed papers not found at ../shared/seeds: provenance tests need them")
    return SEEDS


SEED_WARNINGS = [
    "ma2024.yaml:191:14: warning: records[2](icans_any).percent: printed 5.3% does not match "
    "16/93 = 17.2% at the printed precision (a paper inconsistency, recorded as discrepancies[0])",
    "ma2024.yaml:206:14: warning: records[3](icans_grade3plus).percent: printed 2.65% does not "
    "match 8/93 = 8.602% at the printed precision (a paper inconsistency, recorded as "
    "discrepancies[1])",
    "ma2024.yaml:246:14: warning: records[6](treatment_use_tcz).percent: printed 48.3% does not "
    "match 45/93 = 48.39% at the printed precision (a paper inconsistency, recorded as "
    "discrepancies[2])",
]


@pytest.mark.seeds
def test_seed_studies_validate_with_the_three_known_warnings(seeds, capsys):
    studies = ROOT / "studies"
    code, out, err = run_cli(capsys, "validate", str(studies), "--sources", str(seeds))
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[-1] == "3 study files checked: 0 errors, 3 warnings"
    assert [l.replace(f"{studies}/", "") for l in lines[:-1]] == SEED_WARNINGS


@pytest.mark.seeds
def test_seed_quote_altered_by_one_character_is_not_found(seeds, tmp_path, capsys):
    original = (ROOT / "studies" / "zhang2025.yaml").read_text(encoding="utf-8")
    good = "text: 'Glucocorticoid (49 untreated, 61 treated)'"
    assert original.count(good) == 1
    study = tmp_path / "zhang2025.yaml"
    study.write_text(original.replace(good, good.replace("treated)", "treatd)")), encoding="utf-8")
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(seeds))
    assert code == 1 and warnings == []
    line = original[: original.index(good)].count("\n") + 1
    assert errors == [f"{line}:13: error: groups[1](no_gc).quote.text: quote not found in "
                      f"000_71deb3a1bf788464.txt: \"Glucocorticoid (49 untreated, 61 treatd)\""]


@pytest.mark.seeds
def test_seed_study_with_a_changed_seed_document_fails_its_sha256(seeds, tmp_path, capsys):
    src = tmp_path / "sources"
    src.mkdir()
    for f in seeds.glob("*.txt"):
        shutil.copy(f, src / f.name)
    with open(src / "002_5054636f0ebafb8c.txt", "a", encoding="utf-8") as fh:
        fh.write("\n")
    study = ROOT / "studies" / "ma2024.yaml"
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(src))
    new_sha = hashlib.sha256((src / "002_5054636f0ebafb8c.txt").read_bytes()).hexdigest()
    assert code == 1
    assert [e.split(": ", 1)[1] for e in errors] == [
        f"error: sources[0].sha256: sha256 of 002_5054636f0ebafb8c.txt is {new_sha}, not the "
        "recorded one; the document changed or this is a different file"]


# --- duplicates across files -------------------------------------------------------------

_SHA_A = "a" * 64
_SHA_B = "b" * 64


def two_studies(tmp_path: Path, a_changes=(), b_changes=()) -> tuple[Path, Path]:
    """Two copies of the valid base in tmp_path: a_study (first) and b_study, nothing shared."""
    a = write_variant(tmp_path / "a_study.yaml",
                      ("doi: 10.1000/example.2024.001", "doi: 10.1000/a.001"),
                      ("registrations: [NCT00000000]", "registrations: [NCT00000001]"),
                      (MINIMAL_SHA, _SHA_A), *a_changes)
    b = write_variant(tmp_path / "b_study.yaml",
                      ("doi: 10.1000/example.2024.001", "doi: 10.1000/b.001"),
                      ("registrations: [NCT00000000]", "registrations: [NCT00000002]"),
                      (MINIMAL_SHA, _SHA_B), *b_changes)
    return a, b


def errors_of(capsys, *paths: Path) -> list[str]:
    code, out, err = run_cli(capsys, "validate", *map(str, paths))
    errors = [l for l in out.splitlines() if ": error: " in l]
    assert code == (1 if errors else 0)
    return errors


def test_no_duplicate_error_when_nothing_is_shared(tmp_path, capsys, no_sources_env):
    assert errors_of(capsys, *two_studies(tmp_path)) == []


def test_shared_doi_is_an_error_on_the_second_file(tmp_path, capsys, no_sources_env):
    a, b = two_studies(tmp_path, b_changes=[("doi: 10.1000/b.001", "doi: 10.1000/A.001")])
    assert errors_of(capsys, a, b) == [
        f"{b}:8:8: error: citation.doi: shares its DOI (10.1000/a.001) with a_study.yaml (study "
        "'a_study'); if both report one cohort, declare it under 'overlaps' so it is never counted twice"]


def test_shared_registration_is_an_error(tmp_path, capsys, no_sources_env):
    a, b = two_studies(tmp_path, b_changes=[("[NCT00000002]", "[NCT00000009, nct00000001]")])
    assert errors_of(capsys, tmp_path) == [
        f"{b}:9:30: error: registrations[1]: shares its trial registration (NCT00000001) with "
        "a_study.yaml (study 'a_study'); if both report one cohort, declare it under 'overlaps' "
        "so it is never counted twice"]


def test_shared_source_document_is_an_error(tmp_path, capsys, no_sources_env):
    a, b = two_studies(tmp_path, b_changes=[(_SHA_B, _SHA_A)])
    assert errors_of(capsys, tmp_path) == [
        f"{b}:33:13: error: sources[0].sha256: shares its source document (aaaaaaaaaaaaaaaaaaaa…) "
        "with a_study.yaml (study 'a_study'); if both report one cohort, declare it under "
        "'overlaps' so it is never counted twice"]


@pytest.mark.parametrize("who", ["second declares first", "first declares second"])
def test_declared_overlap_is_not_an_error(tmp_path, capsys, no_sources_env, who):
    shared = [("doi: 10.1000/b.001", "doi: 10.1000/a.001"), ("[NCT00000002]", "[NCT00000001]"),
              (_SHA_B, _SHA_A)]
    overlap_b = "overlaps:\n  - study: a_study\n    reason: the same cohort\n"
    overlap_a = "overlaps:\n  - study: b_study\n    reason: the same cohort\n"
    if who == "second declares first":
        a, b = two_studies(tmp_path, b_changes=shared)
        b.write_text(b.read_text() + overlap_b)
    else:
        a, b = two_studies(tmp_path, b_changes=shared)
        a.write_text(a.read_text() + overlap_a)
    assert errors_of(capsys, tmp_path) == []
    # without the declaration the three shared keys are three errors
    a, b = two_studies(tmp_path, b_changes=shared)
    assert len(errors_of(capsys, tmp_path)) == 3


# --- the command line ----------------------------------------------------------------------


def test_json_output_shape(capsys):
    path = isolate(BROKEN / "schema_missing_required.yaml")
    code, out, err = run_cli(capsys, "validate", str(path), "--sources", str(SOURCES), "--json")
    doc = json.loads(out)
    assert code == 1 and err == ""
    assert set(doc) == {"ok", "files", "errors", "warnings", "messages"}
    assert (doc["ok"], doc["files"], doc["errors"], doc["warnings"]) == (False, 1, 2, 0)
    for m in doc["messages"]:
        assert set(m) == {"file", "line", "col", "severity", "path", "message"}
        assert isinstance(m["line"], int) and isinstance(m["col"], int)
        assert m["file"] == str(path)
    assert [(m["line"], m["col"], m["severity"], m["path"], m["message"]) for m in doc["messages"]] == [
        (7, 3, "error", "citation.title", "required field 'title' is missing"),
        (70, 5, "error", "records[2](pfs_hr_gc).adjusted", "required field 'adjusted' is missing"),
    ]
    # the same messages as the text output
    code, errors, _, _ = validate_text(capsys, path, "--sources", str(SOURCES))
    assert errors == sorted(f"{m['line']}:{m['col']}: error: {m['path']}: {m['message']}"
                            for m in doc["messages"])


def test_json_output_for_a_clean_run_and_a_yaml_error(capsys):
    code, out, _ = run_cli(capsys, "validate", str(isolate(VALID)), "--sources", str(SOURCES),
                           "--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "files": 1, "errors": 0, "warnings": 0, "messages": []}
    path = isolate(BROKEN / "yaml_duplicate_key.yaml")
    code, out, _ = run_cli(capsys, "validate", str(path), str(isolate(VALID)), "--sources", str(SOURCES), "--json")
    doc = json.loads(out)
    assert (code, doc["ok"], doc["files"], doc["errors"]) == (1, False, 2, 1)
    assert doc["messages"] == [{"file": str(path), "line": 10, "col": 3, "severity": "error",
                                "path": "", "message": "duplicate key 'year' (first given at line 9)"}]


def test_schema_command_prints_json_schema(capsys):
    code, out, err = run_cli(capsys, "schema")
    assert code == 0 and err == ""
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    top = {"schema_version", "id", "citation", "registrations", "design", "population", "sources",
           "extraction", "groups", "records", "discrepancies", "overlaps", "notes", "grading",
           "strata", "risk_of_bias"}
    assert set(schema["properties"]) == top
    assert set(schema["required"]) == {"schema_version", "id", "citation", "design", "population",
                                       "sources", "extraction"}
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    data = json.loads(json.dumps(yaml.safe_load(VALID.read_text()), default=str))
    assert list(validator.iter_errors(data)) == []
    data["records"][1]["events"] = -50
    data["records"][0]["kind"] = "binaryy"
    assert len(list(validator.iter_errors(data))) >= 2


def test_nonexistent_path_is_a_usage_error(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    code, out, err = run_cli(capsys, "validate", str(missing))
    assert code == 2 and out == ""
    assert err == f"carsynth validate: {missing}: no such file or directory\n"
    code, out, err = run_cli(capsys, "validate", str(VALID), "--sources", str(missing))
    assert code == 2 and out == ""
    assert err == f"carsynth validate: --sources {missing}: not a directory\n"


def test_directory_picks_yaml_and_yml_only(tmp_path, capsys):
    write_variant(tmp_path / "one.yaml")
    write_variant(tmp_path / "two.yml")
    (tmp_path / "three.txt").write_text("not a study")
    report = validate_paths([tmp_path], SOURCES)
    assert [f.path.name for f in report.files] == ["one.yaml", "two.yml"]
    # both parse; they share DOI, registration and source: one error each on the second file
    assert [m.path for m in report.messages if m.severity == "error"] == [
        "citation.doi", "registrations[0]", "sources[0].sha256"]


# --- regressions: validator bugs found and fixed ------------------------


def _no_internal_error(capsys, path: Path, *extra: str) -> tuple[int, list[str]]:
    code, out, err = run_cli(capsys, "validate", str(path), *extra)
    assert "internal error" not in err, err
    return code, [strip_file(l, path) for l in out.splitlines()[:-1]]


def test_bug_multi_document_file_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "multi.yaml"
    path.write_text("schema_version: 1\n---\nid: multi\n")
    code, lines = _no_internal_error(capsys, path)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("2:1: error: ")


def test_bug_impossible_date_as_key_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "datekey.yaml"
    path.write_text("schema_version: 1\n2026-13-01: x\n")
    code, lines = _no_internal_error(capsys, path)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("2:1: error: ")


def test_bug_deep_nesting_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    code, lines = _no_internal_error(capsys, path)
    assert code == 1
    assert len(lines) == 1 and ": error: " in lines[0]


@pytest.mark.parametrize("typed", ["3_5", "0x23"])
def test_bug_underscore_or_hex_count_escapes_the_quote_check(tmp_path, capsys, typed):
    path = write_variant(tmp_path / "ratio_events.yaml", ("    p: 0.039\n", f"    p: 0.039\n    events: {typed}\n"))
    code, lines = _no_internal_error(capsys, path, "--sources", str(SOURCES))
    # 35 events are not printed anywhere in the record's quote
    assert code == 1
    assert any(l.startswith("79:13: error: records[2](pfs_hr_gc).events: ") for l in lines), lines


@pytest.mark.parametrize("name", ["type_count_text", "type_percent_sign"])
def test_bug_remove_the_quotes_hint_only_for_quoted_numbers(capsys, name):
    errors, _ = expectations(BROKEN / f"{name}.yaml")
    code, got, _, _ = validate_text(capsys, isolate(BROKEN / f"{name}.yaml"), "--sources", str(SOURCES))
    assert got == errors  # the corpus pins today's message ...
    assert not any("remove the quotes" in e for e in got)  # ... whose hint is wrong: no quotes were typed


def test_bug_registration_listed_twice_in_one_file(tmp_path, capsys, no_sources_env):
    path = write_variant(tmp_path / "twice.yaml",
                         ("[NCT00000000]", "[NCT00000000, NCT00000000]"))
    code, lines = _no_internal_error(capsys, path)
    errors = [l for l in lines if ": error: " in l]
    assert errors, "a repeated registration deserves a message"
    assert not any("is also used by" in e for e in errors), errors


def test_bug_quoted_ci_level_is_an_error(tmp_path, capsys):
    path = write_variant(tmp_path / "cilevel.yaml", ("    p: 0.039\n", '    p: 0.039\n    ci_level: "0.9"\n'))
    code, lines = _no_internal_error(capsys, path, "--sources", str(SOURCES))
    assert code == 1
    assert any(l.startswith("79:15: error: records[2](pfs_hr_gc).ci_level: ") for l in lines), lines


def test_bug_accrual_year_as_documented(tmp_path, capsys):
    path = write_variant(tmp_path / "accrual.yaml",
                         ("  n_centres: 1\n", "  n_centres: 1\n  accrual: {start: 2018, end: 2022}\n"))
    code, lines = _no_internal_error(capsys, path, "--sources", str(SOURCES))
    assert (code, lines) == (0, [])


def test_bug_p_greater_than_one_is_rejected(tmp_path, capsys):
    path = write_variant(tmp_path / "pgt1.yaml", ("    p: 0.773\n", '    p: ">1"\n    derived: {p: x}\n'))
    code, lines = _no_internal_error(capsys, path, "--sources", str(SOURCES))
    assert code == 1
    assert any(l.startswith("88:8: error: records[3](os_by_gc).p: a p-value must") for l in lines), lines


def test_bug_soft_hyphen_inside_a_word(tmp_path, capsys):
    study, src = tiny_study(tmp_path, "CRS oc\u00adcurred in 50 of 60 patients (83.33%)", QUOTE)
    code, errors, warnings, _ = validate_text(capsys, study, "--sources", str(src))
    assert (code, errors, warnings) == (0, [], [])


def test_bug_quote_on_next_page_is_not_on_this_page(tmp_path, capsys):
    pages = ["Methods. A retrospective study.", QUOTE]
    study, src = make_pdf_study(tmp_path, pages, QUOTE, 1)
    code, errors, _, _ = validate_text(capsys, study, "--sources", str(src))
    assert (code, errors) == (1, ["18:15: error: records[0](crs_any).quotes[0].page: the quote is on "
                                  "page 2 of paper.pdf, not page 1"])
