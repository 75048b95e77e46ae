"""Whole-or-nothing output folders, and one writer at a time.

The scheme (what a reader of the output folder can see)
--------------------------------------------------------
A build never writes into the live output folder ``OUT``. It fills a fresh
staging folder beside it, ``.OUT.carsynth-staging-XXXXXXXX`` in the same
parent (so on the same file system): new files are written and fsync'ed,
unchanged files are hard-linked from ``OUT`` (copied where links are not
possible), and files carsynth does not manage (a user's notes, the
``heterogeneity`` command's runs) are carried over the same way. Then one
system call swaps the two folders:

* ``renameat2(staging, OUT, RENAME_EXCHANGE)`` on Linux (ext4, xfs, btrfs,
  tmpfs, overlayfs): atomically, ``OUT`` names the whole new folder and the
  staging name the whole old one, which is then deleted;
* where the exchange is not supported (other systems, some network file
  systems): ``rename(OUT, .OUT.carsynth-old-X)`` then ``rename(staging, OUT)``.
  Between the two calls ``OUT`` does not exist (a reader sees no folder, never
  a mix); a build killed there leaves the whole old folder under the ``old``
  name, and the next build renames it back before doing anything else;
* with no ``OUT`` yet: ``rename(staging, OUT)``.

So at every instruction ``OUT`` is the whole old folder, the whole new one, or
(fallback only, for the moment between two renames) absent. A kill, a full
disk or a permission error before the swap leaves ``OUT`` untouched; the
leftover staging folder is deleted by the next build.

Writers take an exclusive ``flock`` on ``.OUT.carsynth-lock`` beside the
folder first; the kernel releases it when the process dies, so a killed build
never leaves a stale lock. A second build on the same folder stops at once
with a message naming the holder.

Errors of the environment (disk full, no permission, read-only file system)
are raised as :class:`OutputError`, which names the path and says what to do.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

from .outpath import OutputError, describe_os_error, is_environment_error

try:  # POSIX only; on other systems builds are not serialised (documented)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

STAGING_TAG = "carsynth-staging"
OLD_TAG = "carsynth-old"
LOCK_TAG = "carsynth-lock"

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


# --- one writer at a time ---------------------------------------------------------------


def lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.{LOCK_TAG}"


class OutputLock:
    """Exclusive lock on an output folder (``with OutputLock(out, "build"): ...``)."""

    def __init__(self, out_dir: Path, command: str = "build"):
        self.out_dir = out_dir
        self.command = command
        self.path = lock_path(out_dir)
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.path, "creating the build lock")) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_small(fd)
                os.close(fd)
                who = f" ({holder})" if holder else ""
                raise OutputError(
                    f"{self.out_dir}: another carsynth command is writing this output "
                    f"folder{who}; wait for it to finish and run again") from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"carsynth {self.command}, pid {os.getpid()}, since "
                          f"{time.strftime('%H:%M:%S')}".encode(), 0)
        except OSError:
            pass  # the note is informative only; the flock is the lock
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # releases the flock
            self._fd = None


def _read_small(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


# --- leftovers of earlier builds ---------------------------------------------------------


def _siblings(out_dir: Path, tag: str) -> list[Path]:
    prefix = f".{out_dir.name}.{tag}-"
    try:
        return sorted(p for p in out_dir.parent.iterdir() if p.name.startswith(prefix))
    except OSError:
        return []


def recover(out_dir: Path) -> list[str]:
    """Undo what a killed build left (call under the lock): restore the old folder if
    the fallback swap was cut between its two renames; delete staging and old folders.
    Returns warnings for leftovers that could not be removed."""
    warnings: list[str] = []
    olds = _siblings(out_dir, OLD_TAG)
    if olds and not os.path.lexists(out_dir):
        newest = max(olds, key=lambda p: p.stat().st_mtime_ns)
        os.rename(newest, out_dir)
        olds.remove(newest)
    for p in olds + _siblings(out_dir, STAGING_TAG):
        if not _remove_tree(p):
            warnings.append(f"{p}: could not remove this leftover of an earlier build; "
                            f"delete it by hand")
    return warnings


def _remove_tree(p: Path) -> bool:
    try:
        shutil.rmtree(p)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


# --- the atomic swap -------------------------------------------------------------------------


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two existing paths (Linux renameat2 RENAME_EXCHANGE).
    False if the system or file system does not support it."""
    libc = _libc()
    fn = getattr(libc, "renameat2", None) if libc is not None else None
    if fn is None or not sys.platform.startswith("linux"):
        return False
    sys.audit("carsynth.rename", os.fspath(a), os.fspath(b))  # the fault harness kills here
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def swap_in(staging: Path, out_dir: Path) -> Path | None:
    """Make ``staging`` the output folder in one step; returns the path now holding the
    old folder (to delete), or None if there was none."""
    if not os.path.lexists(out_dir):
        os.rename(staging, out_dir)
        return None
    if exchange(staging, out_dir):
        return staging
    old = out_dir.parent / f".{out_dir.name}.{OLD_TAG}-{secrets.token_hex(4)}"
    os.rename(out_dir, old)
    os.rename(staging, out_dir)
    return old


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- the staged output ------------------------------------------------------------------------


class StagedOutput:
    """A new version of an output folder, built beside it and swapped in whole.

    ::

        with OutputLock(out, "build"), StagedOutput(out) as st:
            st.write("a/result.json", data)     # new bytes
            st.keep("a/forest.png")             # unchanged: linked from the live folder
            st.carry_over(managed)              # the user's own files
            st.commit()                         # the one atomic swap

    Leaving the block without ``commit()`` (an exception, a kill) leaves the live
    folder as it was and removes the staging folder. OS errors become
    :class:`OutputError` naming the path.
    """

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.staging = self.out_dir.parent / (
            f".{self.out_dir.name}.{STAGING_TAG}-{secrets.token_hex(4)}")
        self.written: list[str] = []
        self.kept: list[str] = []
        self.warnings: list[str] = []
        self._dirs: set[str] = set()
        self._committed = False

    def __enter__(self) -> StagedOutput:
        try:
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(self.staging, 0o777)  # the umask applies: an ordinary folder
        except OSError as exc:
            raise OutputError(describe_os_error(
                exc, self.out_dir.parent, f"creating the staging folder for {self.out_dir}"
            )) from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            _remove_tree(self.staging)
        if exc is not None and is_environment_error(exc) and not isinstance(exc, OutputError):
            raise OutputError(describe_os_error(exc, getattr(exc, "filename", None)
                                                or self.out_dir)) from None

    # --- filling ---

    def _target(self, rel: str) -> Path:
        parts = Path(rel).parts
        if not parts or Path(rel).is_absolute() or ".." in parts:
            raise ValueError(f"not a relative output path: {rel!r}")
        target = self.staging.joinpath(*parts)
        parent = os.path.dirname(rel)
        if parent and parent not in self._dirs:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(describe_os_error(exc, self.out_dir / parent,
                                                    "staging the output folder")) from None
            self._dirs.add(parent)
        return target

    def write(self, rel: str, data: bytes) -> None:
        """Write a new file (fsync'ed) into the staging folder."""
        target = self._target(rel)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.out_dir / rel)) from None
        self.written.append(rel)

    def keep(self, rel: str) -> None:
        """Take the live folder's file unchanged (hard link, or a copy where links fail)."""
        src = self.out_dir / rel
        target = self._target(rel)
        try:
            try:
                os.link(src, target, follow_symlinks=False)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                    raise
                shutil.copy2(src, target, follow_symlinks=False)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.out_dir / rel,
                                                "carrying the file into the new output")) from None
        self.kept.append(rel)

    def carry_over(self, managed: set[str], replaced: str | None = None) -> list[str]:
        """Keep every file of the live folder that carsynth does not manage (the user's
        files, other commands' runs): relative paths not in ``managed`` and not under the
        folder ``replaced`` (which the caller writes anew). Returns them."""
        carried = []
        if not self.out_dir.is_dir():
            return carried
        taken = set(self.written) | set(self.kept)
        for dirpath, dirnames, filenames in os.walk(self.out_dir, followlinks=False):
            rel_dir = os.path.relpath(dirpath, self.out_dir)
            rel_dir = "" if rel_dir == "." else rel_dir
            for name in sorted(filenames) + sorted(d for d in dirnames
                                                   if os.path.islink(os.path.join(dirpath, d))):
                rel = os.path.join(rel_dir, name) if rel_dir else name
                if rel in managed or rel in taken or (
                        replaced and rel.startswith(replaced.rstrip("/") + "/")):
                    continue
                self.keep(rel)
                carried.append(rel)
            for d in dirnames:  # empty folders the user made are kept too
                full = os.path.join(dirpath, d)
                if not os.path.islink(full) and not os.listdir(full):
                    rel = os.path.join(rel_dir, d) if rel_dir else d
                    (self.staging / rel).mkdir(parents=True, exist_ok=True)
        return carried

    # --- the swap ---

    def commit(self) -> None:
        """Swap the staging folder in as the output folder, then delete the old one."""
        try:
            for rel_dir in sorted(self._dirs, key=len, reverse=True):
                _fsync_dir(self.staging / rel_dir)
            _fsync_dir(self.staging)
            old = swap_in(self.staging, self.out_dir)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.out_dir,
                                                "swapping in the new output folder")) from None
        self._committed = True
        _fsync_dir(self.out_dir.parent)
        if old is not None and not _remove_tree(old):
            self.warnings.append(f"{old}: the previous output was replaced but could not be "
                                 f"deleted; delete this folder by hand")
