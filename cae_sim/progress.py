"""A plain text progress bar: redrawn in place on a terminal, a few whole lines in a log file, never escape codes."""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Characters of the bar between the brackets.
WIDTH = 30
#: Off a terminal, a line is written each time this fraction more of the work is done.
LOG_STEP = 0.25


class Progress:
    """Progress of ``total`` units of work, written to ``stream`` (default: standard error).

    On a terminal the line is redrawn in place with a carriage return; on a
    file or pipe a whole line is written at every quarter of the work and at
    the end, so a log file holds a few readable lines.

    Parameters
    ----------
    total : int
        Units of work (images, batches, views).
    title : str
        What is being done ("reading", "epoch 3/25").
    unit : str, default="image"
        Name of one unit, for the rate.
    stream : text file or None
        Where to write; None: ``sys.stderr`` at the time of writing.
    """

    def __init__(self, total: int, title: str, unit: str = "image", stream: TextIO | None = None):
        self.total, self.title, self.unit, self.stream = max(1, int(total)), title, unit, stream
        self.done, self.values, self._started, self._logged, self._closed = 0, {}, time.perf_counter(), 0.0, False

    def add(self, n: int = 1, **values: float) -> None:
        """Record ``n`` more units done, and the latest value of named numbers (a loss)."""
        self.update(self.done + n, **values)

    def update(self, done: int, **values: float) -> None:
        """Record that ``done`` units are done in all, and the latest value of named numbers."""
        if self._closed:  # the last line is written: nothing more to show
            return
        self.done = min(int(done), self.total)
        self.values.update(values)
        if self.done >= self.total:
            self.close()
        elif _is_terminal(self._stream()):
            self._write("\r" + self.line())
        elif self.done / self.total >= self._logged + LOG_STEP:
            self._logged = self.done / self.total
            self._write(self.line() + "\n")

    def close(self) -> None:
        """Write the last line, also when the work ends short of the total (training stopped early).

        Later updates write nothing.
        """
        if not self._closed:
            self._closed = True
            self._write(("\r" if _is_terminal(self._stream()) else "") + self.line() + "\n")

    def line(self) -> str:
        """The progress as one line of text, without a line break."""
        filled = WIDTH * self.done // self.total
        seconds = time.perf_counter() - self._started
        rate = self.done / seconds if seconds > 0 else 0.0
        numbers = "".join(f" - {name} {value:.4f}" for name, value in self.values.items())
        bar = "=" * filled + " " * (WIDTH - filled)
        return f"{self.title} {self.done}/{self.total} [{bar}] {seconds:.0f} s, {rate:.1f} {self.unit}/s{numbers}"

    def _stream(self) -> TextIO:
        return self.stream or sys.stderr

    def _write(self, text: str) -> None:
        self._stream().write(text)
        self._stream().flush()


def _is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())
