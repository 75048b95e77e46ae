"""A progress line on stderr for commands that take more than a second.

Shown only on an interactive terminal: never when stderr is a pipe or a file,
never under CI (the ``CI`` environment variable that GitHub Actions, GitLab CI
and most others set), never with ``TERM=dumb``, and only after ``delay``
seconds, so quick commands print nothing extra. The line is erased before
anything else is printed, so it never mixes with a command's own output.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from typing import TextIO

DELAY = 1.0  # seconds of silence before anything is shown
_FRAMES = "|/-\\"


def wanted(stream: TextIO | None = None) -> bool:
    """Whether a progress line belongs on ``stream`` (default stderr)."""
    stream = stream or sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False
    env = os.environ
    return bool(tty and not env.get("CI") and env.get("TERM", "") != "dumb")


class Progress:
    """``with Progress("building", total=n) as p: p.update(i, "gc_cr")``.

    Without ``total`` it is a spinner with the elapsed time. A background
    thread redraws it until :meth:`close`; :meth:`pause` erases it (call
    before printing) and the next :meth:`update` shows it again.
    """

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None,
                 delay: float = DELAY, enabled: bool | None = None, interval: float = 0.25):
        self.label, self.total = label, total
        self.stream = stream or sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.delay, self.interval = delay, interval
        self.done, self.text = 0, ""
        self._start = time.monotonic()
        self._shown = False  # something is on the line now
        self._paused = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="carsynth-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, done: int | None = None, text: str = "", total: int | None = None) -> None:
        with self._lock:
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
            self.text = text
            self._paused = False
            if self._shown:  # already on screen: show the step now, not at the next tick
                self._draw()

    def pause(self) -> None:
        """Erase the line; it comes back at the next update."""
        with self._lock:
            self._paused = True
            self._erase()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._erase()

    # -- drawing ---------------------------------------------------------------------

    def line(self, now: float | None = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - self._start
        if self.total:
            filled = int(24 * min(self.done, self.total) / self.total)
            body = f"[{'#' * filled:<24}] {self.done}/{self.total}"
        else:
            body = f"{_FRAMES[int(elapsed / self.interval) % len(_FRAMES)]} {elapsed:.0f} s"
        text = f" {self.text}" if self.text else ""
        return f"{self.label} {body}{text}"[:78]

    def _draw(self) -> None:
        try:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
            self._shown = True
        except (OSError, ValueError):
            self._stop.set()

    def _erase(self) -> None:
        if self._shown:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._shown = False

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        while not self._stop.is_set():
            with self._lock:
                if not self._paused:
                    self._draw()
            self._stop.wait(self.interval)


class _ErasingStream:
    """Wraps stdout/stderr: the first write of the command erases and stops the spinner."""

    def __init__(self, inner: TextIO, progress: Progress):
        self._inner, self._progress = inner, progress

    def write(self, s: str) -> int:
        if s:
            self._progress.close()
        return self._inner.write(s)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class spinner:
    """``with spinner("carsynth validate"):`` a spinner while a command is silent.

    It stops for good at the command's first output (to stdout or stderr).
    """

    def __init__(self, label: str, *, delay: float = DELAY, enabled: bool | None = None):
        self.progress = Progress(label, delay=delay, enabled=enabled)

    def __enter__(self) -> Progress:
        if self.progress.enabled:
            self._saved = sys.stdout, sys.stderr
            sys.stdout = _ErasingStream(sys.stdout, self.progress)  # type: ignore[assignment]
            sys.stderr = _ErasingStream(sys.stderr, self.progress)  # type: ignore[assignment]
        return self.progress.__enter__()

    def __exit__(self, *exc) -> None:
        self.progress.close()
        if self.progress.enabled:
            sys.stdout, sys.stderr = self._saved
