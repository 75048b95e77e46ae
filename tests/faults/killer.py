"""Run the carsynth command line and SIGKILL it just before its N-th file-system step.

    python tests/faults/killer.py N COUNT_FILE -- build --plan ... --output ...

The steps are Python audit events: every rename (``os.rename``, also raised by
``os.replace``, and ``carsynth.rename``, raised right before the atomic
exchange), hard link, delete, folder creation and every file opened for
writing. N = 0 kills nothing and writes the number of steps seen, and the
kind of each, to COUNT_FILE (one per line), so a harness can plan one trial
per step. The kill is ``os.kill(os.getpid(), SIGKILL)``: no cleanup, no
``finally`` blocks, no atexit, exactly like the OOM killer or a power cut of
the process (the file system itself stays consistent).
"""

from __future__ import annotations

import os
import signal
import sys

WATCHED = {"os.rename", "carsynth.rename", "os.link", "os.remove", "os.rmdir", "os.mkdir",
           "shutil.rmtree", "shutil.copyfile"}


def _writing(event: str, args: tuple) -> bool:
    if event != "open":
        return event in WATCHED
    _path, mode, flags = args
    if mode is not None:
        return any(c in str(mode) for c in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))


def main() -> int:
    n = int(sys.argv[1])
    count_file = sys.argv[2]
    assert sys.argv[3] == "--"
    argv = sys.argv[4:]
    seen: list[str] = []
    pid = os.getpid()

    def hook(event: str, args: tuple) -> None:
        if os.getpid() != pid or not _writing(event, args):
            return  # render workers are not counted; they write nothing
        path = args[0] if args else ""
        if isinstance(path, (bytes, str)) and "/proc/" in os.fsdecode(path):
            return
        seen.append(event)
        if n and len(seen) == n:
            os.kill(pid, signal.SIGKILL)

    sys.addaudithook(hook)
    from synthesis.cli import main as cli_main

    rc = cli_main(argv)
    if n == 0:
        with open(count_file, "w") as fh:  # after the run: not itself counted
            fh.write("\n".join(seen) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
