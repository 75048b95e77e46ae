"""Importing carsynth changes nothing in the process: matplotlib's backend and rcParams,
the umask and the working directory are as they were (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, os, pkgutil, importlib
import matplotlib

def umask():
    for line in open("/proc/self/status"):
        if line.startswith("Umask:"):
            return line.split()[1]

def state():
    rc = {k: repr(v) for k, v in dict.items(matplotlib.rcParams) if k != "backend"}
    return {"backend": repr(dict.__getitem__(matplotlib.rcParams, "backend")), "rc": rc,
            "umask": umask(), "cwd": os.getcwd(),
            "pyplot": "matplotlib.pyplot" in __import__("sys").modules}

before = state()
import synthesis
synthesis.pool  # the lazy public API
import synthesis.plots
failed = []
for mod in pkgutil.walk_packages(synthesis.__path__, "synthesis."):
    if mod.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(mod.name)
    except Exception as exc:  # someone else's module mid-edit: reported, not a side effect
        failed.append(f"{mod.name}: {type(exc).__name__}")
after = state()
changed = sorted(k for k in before["rc"] if before["rc"][k] != after["rc"].get(k))
print(json.dumps({"before": {k: v for k, v in before.items() if k != "rc"},
                  "after": {k: v for k, v in after.items() if k != "rc"},
                  "rc_changed": changed, "failed": failed}))
"""


def test_importing_every_module_leaves_the_process_alone():
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["rc_changed"] == [], got["rc_changed"]
    assert got["after"] == got["before"], got  # backend, umask, cwd, pyplot (not imported)
