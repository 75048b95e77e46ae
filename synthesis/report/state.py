"""Incremental-build state, and committing a build's files as one whole output folder.

The state file (``.carsynth-state.json``, inside the output folder, so it is
swapped together with the files it describes) records for every analysis the
key of its inputs, its results row, its heterogeneity section and the SHA-256
of each of its output files, and the hashes of the review-wide files. An
analysis is skipped only when its key is unchanged **and** every one of its
files is present with the recorded hash; anything missing or changed by hand
is rendered again. Review-wide files are always rendered in memory and
compared.

:func:`commit` writes through :mod:`synthesis.report.staging`: the whole new
folder is staged beside the output and swapped in with one rename, under the
output folder's lock, so a reader sees the old folder or the new one, never a
mix. Files of the output folder that carsynth does not manage (a user's own
notes, ``carsynth heterogeneity`` runs) are carried over untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..plan import Analysis
from ..select import AnalysisData
from .staging import StagedOutput

STATE_FILE = ".carsynth-state.json"
STATE_FORMAT = 2  # 2: "files" maps each output to its SHA-256 (1: a list of names)
HET_RUNS = "heterogeneity-runs"  # `carsynth heterogeneity` writes here; never an analysis id


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str | None:
    """The file's SHA-256, or None if it is missing or unreadable."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def analysis_key(analysis: Analysis, data: AnalysisData, risk_of_bias: Any = None) -> str:
    """SHA-256 of everything an analysis' outputs depend on (``risk_of_bias``: the
    contributing studies' assessments, synthesis.appraisal.assess.rob_key)."""
    payload = {
        "version": __version__,
        "analysis": analysis.model_dump(mode="json"),
        "contributions": [
            {"label": c.label, "file": c.file, "record": c.record.model_dump(mode="json"),
             "reason": c.reason, "alternatives": c.alternatives, "subgroup": c.subgroup,
             "footnotes": c.footnotes}
            for c in data.contributions
        ],
        "not_pooled": [n.__dict__ for n in data.not_pooled],
        "risk_of_bias": risk_of_bias,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def review_key(plan_dump: Any, study_dumps: list[Any]) -> str:
    """SHA-256 of what the review-wide outputs (overview, results tables, index, SoF,
    the review's risk-of-bias plots) are made from beyond the analyses' own keys: the
    plan and every study (an assessment can feed the review plots without its study
    contributing to an analysis)."""
    payload = {"version": __version__, "plan": plan_dump, "studies": study_dumps}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def read_state(out_dir: Path) -> dict[str, Any]:
    """The previous build's state ({} if none, unreadable or of an older format: then
    every analysis is rendered again)."""
    state_path = out_dir / STATE_FILE
    try:
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and state.get("format") == STATE_FORMAT else {}


def intact(out_dir: Path, entry: dict[str, Any] | None) -> bool:
    """True if every output file of a state entry is present with its recorded hash."""
    files = (entry or {}).get("files")
    if not isinstance(files, dict) or not files:
        return False
    return all(file_sha256(out_dir / rel) == digest for rel, digest in files.items())


@dataclass
class CommitResult:
    written: list[str] = field(default_factory=list)  # new or changed files
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # outputs no longer produced
    warnings: list[str] = field(default_factory=list)
    swapped: bool = False


def commit(out_dir: Path, files: dict[str, bytes], entries: dict[str, dict[str, Any]],
           rendered: set[str], order: list[str], review: str | None = None) -> CommitResult:
    """Make ``out_dir`` the build's output, whole. Call under the output's OutputLock.

    ``files``: every file rendered by this build (analyses in ``rendered`` and the
    review-wide files), by relative path; ``review``: their :func:`review_key`. ``entries``: the new state entry of every
    analysis (for rendered ones ``files`` may be a list: hashes are filled in here);
    entries of analyses not rendered must be :func:`intact` (their files are kept).
    """
    old_managed = _previous_outputs(out_dir)
    new_entries: dict[str, dict[str, Any]] = {}
    managed: dict[str, str] = {}
    result = CommitResult()
    for a_id in order:
        if a_id not in entries:
            continue
        e = dict(entries[a_id])
        if a_id in rendered:
            e["files"] = {rel: sha256(files[rel]) for rel in sorted(e["files"])}
        elif not intact(out_dir, e):  # only with --only: an analysis not asked for
            result.warnings.append(f"{a_id}: its output files are missing or were changed, "
                                   f"and --only did not rebuild it; they were removed, run "
                                   f"`carsynth build` without --only to rebuild them")
            continue
        new_entries[a_id] = e
        managed.update(e["files"])
    review_wide = {rel: sha256(data) for rel, data in files.items() if rel not in managed}
    managed.update(review_wide)
    state = {"format": STATE_FORMAT, "carsynth_version": __version__,
             "analyses": new_entries, "files": dict(sorted(review_wide.items())),
             "review_key": review}
    state_bytes = (json.dumps(state, indent=1, sort_keys=True) + "\n").encode()

    live = {rel: file_sha256(out_dir / rel) for rel in managed}
    for rel, digest in sorted(managed.items()):
        (result.unchanged if live[rel] == digest else result.written).append(rel)
    result.removed = sorted(rel for rel in old_managed - set(managed)
                            if os.path.lexists(out_dir / rel))
    state_same = file_sha256(out_dir / STATE_FILE) == sha256(state_bytes)
    if not result.written and not result.removed and state_same:
        return result  # the folder already is this build's output: nothing to swap
    with StagedOutput(out_dir) as st:
        for rel in sorted(managed):
            if live[rel] == managed[rel]:
                st.keep(rel)  # the same bytes: linked, not rewritten
            else:
                st.write(rel, files[rel])
        st.carry_over(set(managed) | old_managed | {STATE_FILE})
        st.write(STATE_FILE, state_bytes)
        st.commit()
    result.warnings += st.warnings
    result.swapped = True
    return result


def _previous_outputs(out_dir: Path) -> set[str]:
    """Every file the previous build made (from its state, of any format), so outputs no
    longer produced are dropped instead of carried over as if they were the user's."""
    try:
        state = json.loads((out_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(state, dict):
        return set()
    paths = set(state.get("files") or ())
    for e in (state.get("analyses") or {}).values():
        if isinstance(e, dict):
            paths.update(e.get("files") or ())  # a dict (format 2) or a list (format 1)
    return {p for p in paths if isinstance(p, str)}


def run_folder(name: str) -> str:
    """The folder (relative to the output) of one `carsynth heterogeneity` run."""
    return f"{HET_RUNS}/{name}"


def commit_run(out_dir: Path, folder: str, files: dict[str, bytes]) -> list[str]:
    """Replace one run folder inside ``out_dir`` (e.g. a heterogeneity run) with
    ``files``, keeping everything else; the same whole-folder swap as a build.
    Call under the output's OutputLock. Returns warnings."""
    with StagedOutput(out_dir) as st:
        for rel, data in sorted(files.items()):
            st.write(f"{folder}/{rel}", data)
        st.carry_over(set(), replaced=folder)
        st.commit()
    return st.warnings
