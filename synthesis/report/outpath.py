"""The output path and the environment's errors: where a build may write, and one line
naming the path and what to do when the machine (disk full, no permission, read-only
file system) stops it. Used by the staging swap and the command line."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..errors import EXIT_ENVIRONMENT, CarsynthError

#: errors of the machine, not of carsynth: reported with the path and what to do
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                                errno.EROFS, errno.EBUSY, errno.ENAMETOOLONG, errno.EIO})


class OutputError(CarsynthError):
    """The output folder cannot be written, for a reason in the environment or the
    output path. The message is one line naming the path and what to do."""

    exit_code = EXIT_ENVIRONMENT


def describe_os_error(exc: OSError, path: Path | str, doing: str = "writing") -> str:
    """One line for an OSError of the environment: the path, the cause, what to do."""
    where = str(path)
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"{where}: no space left on the device while {doing}; free some disk space "
                f"(or choose another output folder with --output) and run again")
    if code in (errno.EACCES, errno.EPERM):
        return (f"{where}: permission denied while {doing}; make the folder writable for "
                f"this user (or choose another output folder with --output) and run again")
    if code == errno.EROFS:
        return (f"{where}: the file system is read-only; choose an output folder on a "
                f"writable disk with --output and run again")
    if code == errno.EBUSY:
        return (f"{where}: busy (a mount point or in use by another program); "
                f"choose another output folder with --output")
    if code in (errno.ENAMETOOLONG,):
        return f"{where}: the path is too long; choose a shorter output folder"
    reason = exc.strerror or type(exc).__name__
    return f"{where}: {reason} while {doing}; check the folder and the disk, then run again"


def is_environment_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno is not None


# --- the output path ------------------------------------------------------------------


def check_path_text(path: Path | str) -> str:
    """The path as text; an :class:`OutputError` if it holds a NUL byte (no system call
    accepts one)."""
    text = os.fspath(path)
    if "\0" in text:
        shown = text.replace("\0", "\\0")
        raise OutputError(f"output path '{shown[:80]}' contains a NUL byte; "
                          f"give a folder name without it")
    return text


def resolve_output(out_dir: Path | str, inputs: tuple[Path, ...] = ()) -> Path:
    """The folder the build may swap: checked and resolved (a symlink to a folder is
    followed, so the link stays and the folder it points to is replaced).

    Refuses, with an :class:`OutputError`: a path with a NUL byte; an existing path
    that is not a folder (review.yaml, a study file, /dev/null); the file-system root;
    and a folder that holds one of ``inputs`` (the plan, the studies), since the
    swap would move them.
    """
    path = Path(check_path_text(out_dir))
    try:
        if path.exists() and not path.is_dir():
            kind = "a device" if path.is_char_device() or path.is_block_device() else "a file"
            raise OutputError(f"{path}: the output path is {kind}, not a folder; carsynth "
                              f"writes a folder of outputs there, so give a folder path "
                              f"(for example output/) with --output or the plan's output:")
        resolved = path.resolve()
    except OSError as exc:
        raise OutputError(describe_os_error(exc, path, "checking the output path")) from None
    if resolved.parent == resolved:
        raise OutputError(f"{path}: the output folder cannot be the file-system root; "
                          f"give a folder such as output/")
    for inp in inputs:
        try:
            inp_r = Path(inp).resolve()
        except OSError:
            continue
        if inp_r == resolved or resolved in inp_r.parents:
            raise OutputError(f"{path}: the output folder holds the input {inp}; a build "
                              f"replaces its output folder, so give a separate folder "
                              f"(for example output/)")
    return resolved
