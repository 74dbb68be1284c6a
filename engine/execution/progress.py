"""Progress reporting: a rich bar on a terminal, plain periodic lines in batch logs.

Nothing is shown for runs that finish within :data:`QUIET_SECONDS`.
"""

from __future__ import annotations

import sys
import time

QUIET_SECONDS = 2.0
LINE_EVERY = 10.0


class Progress:
    """Report scenarios done out of ``total``; use as a context manager, call :meth:`advance`."""

    def __init__(self, total: int, label: str = "scenarios", enabled: bool = True, stream=None, initial: int = 0):
        self.total = total
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = initial  # already done (a resumed run); the rate counts only new work
        self._initial = initial
        self._t0 = time.perf_counter()
        self._bar = None
        self._task = None
        self._last_line = self._t0

    def __enter__(self):
        return self

    def _start_bar(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._bar = RichProgress(
            TextColumn("[bold]dcproj[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=self.total, completed=self.done, rate="")

    def _rate(self, now: float) -> float:
        return (self.done - self._initial) / max(now - self._t0, 1e-9)

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._t0 < QUIET_SECONDS and self.done < self.total:
            return
        rate = self._rate(now)
        if getattr(self.stream, "isatty", lambda: False)():
            if self._bar is None and self.done < self.total:
                self._start_bar()
            if self._bar is not None:
                self._bar.update(self._task, completed=self.done, rate=f"{rate:,.0f} {self.label}/s")
        elif now - self._last_line >= LINE_EVERY or (self.done >= self.total and now - self._t0 >= QUIET_SECONDS):
            self._last_line = now
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(
                f"dcproj: {self.done:,}/{self.total:,} {self.label} ({100 * self.done / self.total:.0f}%), "
                f"{rate:,.0f}/s, elapsed {now - self._t0:.0f} s, ETA {eta:.0f} s",
                file=self.stream,
                flush=True,
            )

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
