"""Incremental-build state and atomic file writes.

An analysis whose inputs (plan entry, selected records with their quotes, tool
version) are unchanged is skipped; its key is the SHA-256 of those inputs.
Every output is written via a temporary file and a rename, and only if its
bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .. import __version__
from ..plan import Analysis
from ..select import AnalysisData

STATE_FILE = ".carsynth-state.json"
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` via a temporary file and rename; False if already identical."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_bytes() == data:
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def analysis_key(analysis: Analysis, data: AnalysisData) -> str:
    """SHA-256 of everything an analysis' outputs depend on."""
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
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def read_state(out_dir: Path) -> dict[str, Any]:
    """The previous build's state ({} if none or unreadable)."""
    state_path = out_dir / STATE_FILE
    try:
        return json.loads(state_path.read_text()) if state_path.is_file() else {}
    except (OSError, ValueError):
        return {}


def write_state(out_dir: Path, entries: dict[str, Any]) -> None:
    state = {"carsynth_version": __version__, "analyses": entries}
    write_atomic(out_dir / STATE_FILE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
