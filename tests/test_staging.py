"""The staging machinery on its own: whole-folder swap, recovery after a kill, the lock,
output-path checks, environment errors and render workers that die with their parent."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synthesis.report import staging
from synthesis.report.outpath import OutputError, resolve_output
from synthesis.report.staging import OutputLock, StagedOutput, recover


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.carsynth-")
                  and not p.name.endswith("lock"))


def test_first_build_and_swap_keep_unchanged_and_user_files(tmp_path):
    out = tmp_path / "output"
    with StagedOutput(out) as st:
        st.write("a/x.txt", b"one")
        st.write("top.txt", b"top")
        st.commit()
    assert _tree(out) == {"a/x.txt": b"one", "top.txt": b"top"}
    (out / "notes.md").write_bytes(b"mine")  # the user's own file in the output folder
    ino = (out / "top.txt").stat().st_ino
    with StagedOutput(out) as st:
        st.write("a/x.txt", b"two")
        st.keep("top.txt")
        st.carry_over({"a/x.txt", "top.txt", "a/gone.txt"})
        st.commit()
    assert _tree(out) == {"a/x.txt": b"two", "top.txt": b"top", "notes.md": b"mine"}
    assert (out / "top.txt").stat().st_ino == ino  # linked, not rewritten
    assert _siblings(out) == []  # the old folder was deleted


def test_exception_before_commit_leaves_the_folder_and_removes_staging(tmp_path):
    out = tmp_path / "output"
    with StagedOutput(out) as st:
        st.write("x", b"old")
        st.commit()
    with pytest.raises(RuntimeError):
        with StagedOutput(out) as st:
            st.write("x", b"new")
            raise RuntimeError("render failed")
    assert _tree(out) == {"x": b"old"} and _siblings(out) == []


def test_fallback_swap_cut_between_its_two_renames_is_restored(tmp_path, monkeypatch):
    out = tmp_path / "output"
    with StagedOutput(out) as st:
        st.write("x", b"old")
        st.commit()
    monkeypatch.setattr(staging, "exchange", lambda a, b: False)  # no renameat2 here
    real_rename = os.rename
    calls = []

    def dying_rename(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the process "dies" between the two renames
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(staging.os, "rename", dying_rename)
    with pytest.raises(KeyboardInterrupt):
        with StagedOutput(out) as st:
            st.write("x", b"new")
            st._committed = True  # a kill runs no cleanup: keep the staging folder too
            st.commit()
    monkeypatch.setattr(staging.os, "rename", real_rename)
    assert not out.exists()  # the window: no folder, never a mix
    assert recover(out) == []
    assert _tree(out) == {"x": b"old"} and _siblings(out) == []
    with StagedOutput(out) as st:  # and the fallback swap itself works
        st.write("x", b"new")
        st.commit()
    assert _tree(out) == {"x": b"new"} and _siblings(out) == []


def test_lock_refuses_a_second_writer_with_a_clear_message(tmp_path):
    out = tmp_path / "output"
    with OutputLock(out, "build"):
        with pytest.raises(OutputError) as info:
            with OutputLock(out, "build"):
                pass
    msg = str(info.value)
    assert str(out) in msg and "another carsynth command is writing" in msg
    assert f"pid {os.getpid()}" in msg and "\n" not in msg
    with OutputLock(out, "build"):  # released on exit
        pass


def test_lock_of_a_killed_process_is_released(tmp_path):
    out = tmp_path / "output"
    code = textwrap.dedent(f"""
        import time
        from synthesis.report.staging import OutputLock
        from pathlib import Path
        with OutputLock(Path({str(out)!r}), "build"):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(OutputError, match=f"pid {proc.pid}"):
            with OutputLock(out):
                pass
    finally:
        proc.kill()
        proc.wait()
    with OutputLock(out):  # no stale lock after SIGKILL
        pass


@pytest.mark.parametrize("make, expect", [
    (lambda d: d / "review.yaml", "is a file, not a folder"),
    (lambda d: Path("/dev/null"), "is a device, not a folder"),
    (lambda d: Path(str(d / "out") + "\0x"), "contains a NUL byte"),
    (lambda d: Path("/"), "cannot be the file-system root"),
    (lambda d: d, "holds the input"),
])
def test_unusable_output_paths_are_clear_errors(tmp_path, make, expect):
    (tmp_path / "review.yaml").write_text("title: x\n")
    with pytest.raises(OutputError, match=expect) as info:
        resolve_output(make(tmp_path), inputs=(tmp_path / "review.yaml",))
    assert "\n" not in str(info.value) and "bug" not in str(info.value)


def test_output_symlink_to_a_folder_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert resolve_output(tmp_path / "link") == real.resolve()


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, "no space left"), (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only"), (errno.EIO, "Input/output error"),
])
def test_environment_errors_name_the_path_and_what_to_do(tmp_path, monkeypatch, code, words):
    out = tmp_path / "output"

    def failing_write(fd, data):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(staging.os, "write", failing_write)
    with pytest.raises(OutputError) as info:
        with StagedOutput(out) as st:
            st.write("a/result.json", b"x")
    msg = str(info.value)
    assert msg.startswith(str(out / "a/result.json")) and words in msg and "run again" in msg
    assert not out.exists() and _siblings(out) == []


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_render_workers_die_with_their_parent():
    code = textwrap.dedent("""
        import time
        from synthesis.report.workers import run_parallel
        run_parallel(time.sleep, [60] * 4, jobs=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    kids: list[int] = []
    try:
        deadline = time.time() + 30
        while len(kids := _children(proc.pid)) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(kids) >= 2, "the pool did not start"
        time.sleep(0.5)  # past the workers' initializer
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        alive = kids
        while alive and time.time() < deadline:
            time.sleep(0.1)
            alive = [k for k in kids if Path(f"/proc/{k}").exists()
                     and "Z" not in (Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1][:3])]
        assert alive == [], f"workers {alive} outlived their parent"
    finally:
        proc.kill()
        for k in kids:  # only if the test failed: do not leave orphans behind
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
