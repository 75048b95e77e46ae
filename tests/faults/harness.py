"""Fault-injection harness for `carsynth build`: the output folder must always be the
whole old version or the whole new one.

Each trial starts from an output folder built from inputs A, then builds inputs B
(every analysis title changed, so every analysis' files and the summary files
change) under a fault:

* ``kill``: SIGKILL of the build just before its N-th file-system step (each
  rename, link, delete, folder creation and file opened for writing; see
  killer.py), for every N or for the renames only;
* ``tmpfs``: the output on a small tmpfs (root only: ``mount -t tmpfs``), once
  from an empty folder and once with the old output already filling most of it;
* ``readonly``: a sub-folder of the old output made unwritable (``chattr +i``
  as root, ``chmod 555`` otherwise).

After each trial the output folder is compared file by file (SHA-256) with
the reference builds of A and of B. Then the inputs are reverted to A and the
build is run again: the folder must equal the reference A exactly, which is
the issue's "reverting the inputs says nothing changed while stale files
remain" failure.

    python tests/faults/harness.py                 # every rename, every 10th other step
    python tests/faults/harness.py --stride 1      # every step (slow: three builds a trial)
    python tests/faults/harness.py --renames-only  # the renames only

tests/test_staging_faults.py runs the rename trials, the tmpfs and the
read-only trial in CI.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ANALYSES = ("gc_cr", "crs_any_incidence")  # a k = 1 and a k = 3 analysis (leave-one-out plots)
LEFTOVER_TAGS = ("carsynth-staging", "carsynth-old")


# --- projects and snapshots ---------------------------------------------------------------


def make_project(root: Path, variant: str, analyses=ANALYSES) -> Path:
    """A copy of the shipped review with only ``analyses``; variant 'A' or 'B' (B retitles)."""
    root.mkdir(parents=True, exist_ok=True)
    plan = yaml.safe_load((REPO / "review.yaml").read_text())
    # only the core sections: no sources (quotes not verified: faster, nothing outside the
    # project), no overview or summary-of-findings tables naming analyses cut here
    plan = {k: v for k, v in plan.items()
            if k in ("review_version", "title", "studies", "output", "analyses")}
    plan["analyses"] = [a for a in plan["analyses"] if a["id"] in analyses]
    if variant == "B":
        for a in plan["analyses"]:
            a["title"] = a["title"] + " (retitled)"
    (root / "review.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False))
    if not (root / "studies").exists():
        shutil.copytree(REPO / "studies", root / "studies")
    return root / "review.yaml"


def snapshot(out: Path) -> dict[str, str] | None:
    """{relative path: sha256} of every file under ``out``; None if there is no folder."""
    if not out.is_dir():
        return None
    snap = {}
    for dirpath, _dirs, files in os.walk(out):
        for name in files:
            p = Path(dirpath) / name
            snap[str(p.relative_to(out))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir()
                  if p.name.startswith(f".{out.name}.") and any(t in p.name for t in LEFTOVER_TAGS))


def classify(snap, old, new) -> str:
    if snap == old:
        return "old"
    if snap == new:
        return "new"
    if snap is None:
        return "absent"
    return "MIX"


CODE = [REPO]  # where the carsynth under test is imported from (Bench makes a frozen copy)


def freeze_code(dest: Path) -> Path:
    """Copy the code under test, so every trial of a run tests the same code even while
    the work tree changes."""
    for pkg in ("synthesis", "extract"):
        shutil.copytree(REPO / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    CODE[0] = dest
    return dest


def run_build(plan: Path, out: Path, kill_at: int = 0, count_file: Path | None = None,
              jobs: int = 1, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(CODE[0]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("CARSYNTH_DEBUG", None)
    cmd = [sys.executable, str(HERE / "killer.py"), str(kill_at), str(count_file or os.devnull),
           "--", "build", "--plan", str(plan), "--output", str(out), "--jobs", str(jobs)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=plan.parent)


# --- the trials ---------------------------------------------------------------------------------


@dataclass
class Trial:
    fault: str
    outcome: str  # old / new / absent / MIX
    returncode: int
    message: str = ""
    leftovers: list[str] = field(default_factory=list)
    after_rebuild: str = ""  # what a plain rebuild of B gives: must be "new"
    after_revert: str = ""  # what a build of A gives afterwards: must be "old"

    @property
    def ok(self) -> bool:
        whole = self.outcome in ("old", "new") or (self.outcome == "absent"
                                                  and self.fault.startswith("kill"))
        clear = "internal error" not in self.message and "This is a bug" not in self.message
        return (whole and clear and self.after_rebuild in ("", "new")
                and self.after_revert in ("", "old"))


class Bench:
    """Reference outputs of A and B, and a fresh work folder per trial."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        freeze_code(tmp / "code")
        self.plan_a = make_project(tmp / "ref" / "a", "A")
        self.plan_b = make_project(tmp / "ref" / "b", "B")
        self.ref = tmp / "ref" / "out"
        self._check(run_build(self.plan_a, self.ref))
        self.old = snapshot(self.ref)
        self.old_copy = tmp / "ref" / "old-output"
        shutil.copytree(self.ref, self.old_copy, symlinks=True)
        self._check(run_build(self.plan_b, self.ref))
        self.new = snapshot(self.ref)
        assert self.old != self.new
        self._n = 0

    @staticmethod
    def _check(proc):
        if proc.returncode != 0:
            raise RuntimeError(f"reference build failed ({proc.returncode}):\n{proc.stderr}")

    def workdir(self) -> tuple[Path, Path, Path]:
        """A project folder with inputs B and an output folder holding the old output."""
        self._n += 1
        root = self.tmp / f"t{self._n}"
        plan_a = make_project(root / "a", "A")
        plan_b = make_project(root / "b", "B")
        return root, plan_a, plan_b

    def steps(self) -> list[str]:
        root, _plan_a, plan_b = self.workdir()
        out = root / "out"
        shutil.copytree(self.old_copy, out, symlinks=True)
        count = root / "steps.txt"
        self._check(run_build(plan_b, out, 0, count))
        return [x for x in count.read_text().split("\n") if x]

    def finish(self, trial: Trial, plan_a: Path, plan_b: Path, out: Path, rebuild=True) -> Trial:
        trial.leftovers = leftovers(out)
        if rebuild:
            proc = run_build(plan_b, out)
            trial.after_rebuild = classify(snapshot(out), self.old, self.new)
            if proc.returncode != 0:
                trial.after_rebuild += f" (exit {proc.returncode})"
            run_build(plan_a, out)
            trial.after_revert = classify(snapshot(out), self.old, self.new)
        return trial

    def kill(self, step: int, event: str, rebuild: bool = True) -> Trial:
        root, plan_a, plan_b = self.workdir()
        out = root / "out"
        shutil.copytree(self.old_copy, out, symlinks=True)
        proc = run_build(plan_b, out, kill_at=step)
        t = Trial(f"kill before step {step} ({event})", classify(snapshot(out), self.old, self.new),
                  proc.returncode, proc.stderr.strip()[-300:])
        return self.finish(t, plan_a, plan_b, out, rebuild)


def tmpfs_trials(bench: Bench) -> list[Trial]:
    """Full disk: a tmpfs too small for the build, from empty and with the old output."""
    size = sum(p.stat().st_size for p in bench.old_copy.rglob("*") if p.is_file())
    trials = []
    for label, quota, with_old in (("tmpfs from an empty folder", size // 2, False),
                                   ("tmpfs holding the old output", int(size * 1.3) + 65536, True)):
        root, plan_a, plan_b = bench.workdir()
        mnt = root / "disk"
        mnt.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={quota}", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise PermissionError(f"cannot mount a tmpfs ({res.stderr.strip() or 'not root'})")
        try:
            out = mnt / "out"
            if with_old:
                shutil.copytree(bench.old_copy, out, symlinks=True)
            proc = run_build(plan_b, out)
            snap = snapshot(out)
            t = Trial(f"{label} ({quota // 1024} kB)",
                      classify(snap, bench.old if with_old else None, bench.new),
                      proc.returncode, proc.stderr.strip())
            if not with_old and snap is None:
                t.outcome = "old"  # nothing before, nothing after: whole
            t.leftovers = leftovers(out)
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
        trials.append(t)
    return trials


def _make_readonly(path: Path) -> callable:
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            raise PermissionError("running as root without chattr: cannot make a folder read-only")
        res = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if res.returncode != 0:
            raise PermissionError(f"chattr +i not supported here: {res.stderr.strip()}")
        return lambda p=path: subprocess.run(["chattr", "-i", str(p)], check=False)
    path.chmod(0o555)
    return lambda p=path: p.chmod(0o755)


def readonly_trial(bench: Bench) -> Trial:
    root, plan_a, plan_b = bench.workdir()
    out = root / "out"
    shutil.copytree(bench.old_copy, out, symlinks=True)
    sub = out / max(ANALYSES)  # written last by an in-place build: a mix if it fails there
    undo = _make_readonly(sub)
    try:
        proc = run_build(plan_b, out)
        t = Trial("read-only sub-folder", classify(snapshot(out), bench.old, bench.new),
                  proc.returncode, proc.stderr.strip())
        t.leftovers = leftovers(out)
    finally:
        undo()
        for p in root.rglob("*"):  # the old folder may now sit under a leftover name
            if p.is_dir() and p.name == max(ANALYSES):
                subprocess.run(["chattr", "-i", str(p)], capture_output=True, check=False)
    # with the folder writable again, the next build cleans up and gives B exactly
    run_build(plan_b, out)
    t.after_rebuild = classify(snapshot(out), bench.old, bench.new)
    if leftovers(out):
        t.after_rebuild += " (leftovers remain)"
    return t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--renames-only", action="store_true", help="kill before renames only")
    ap.add_argument("--stride", type=int, default=10, metavar="N",
                    help="besides every rename, kill before every N-th other step (default 10; "
                         "1 = every step, slow)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    args = ap.parse_args(argv)
    tmp_ctx = None if args.keep else tempfile.TemporaryDirectory(prefix="carsynth-faults-")
    tmp = Path(args.keep or tmp_ctx.name)
    tmp.mkdir(parents=True, exist_ok=True)
    bench = Bench(tmp)
    steps = bench.steps()
    print(f"a build of B over A takes {len(steps)} file-system steps")
    trials: list[Trial] = []
    for i, ev in enumerate(steps, 1):
        rename = ev in ("os.rename", "carsynth.rename")
        if not rename and (args.renames_only or i % args.stride):
            continue
        trials.append(bench.kill(i, ev, rebuild=rename or i % (10 * args.stride) == 0))
        print(_row(trials[-1]), flush=True)
    for fn in (tmpfs_trials, lambda b: [readonly_trial(b)]):
        try:
            for t in fn(bench):
                trials.append(t)
                print(_row(t), flush=True)
        except PermissionError as exc:
            print(f"skipped: {exc}")
    bad = [t for t in trials if not t.ok]
    print(f"{len(trials)} trials: {len(trials) - len(bad)} whole, {len(bad)} NOT whole")
    if tmp_ctx is not None:
        tmp_ctx.cleanup()
    return 1 if bad else 0


def _row(t: Trial) -> str:
    return (f"{'ok ' if t.ok else 'BAD'} {t.fault}: output {t.outcome}, exit {t.returncode}; "
            f"rebuild {t.after_rebuild or '-'}; revert {t.after_revert or '-'}; "
            f"leftovers {len(t.leftovers)}"
            + (f"; message: {t.message.splitlines()[-1][:160]}" if t.message else ""))


if __name__ == "__main__":
    sys.exit(main())
