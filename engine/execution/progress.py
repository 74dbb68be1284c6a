"""Progress reporting: a rich bar on a terminal, plain periodic lines in batch logs.

Nothing is shown for runs that finish within :data:`QUIET_SECONDS`.
"""

from __future__ import annotations

import sys
import time

QUIET_SECONDS = 2.0
LINE_EVERY = 10.0

#: The compiled entry point a first chunk of each kind of run waits for (numba backend).
_ENTRY_POINTS = {False: ("kernels.cpu", "sample_inputs"), True: ("kernels.cpu_summary", "summarise_block")}


def announce_compile(backend: str, summary: bool, enabled: bool, stream=None) -> bool:
    """Say "compiling kernels (once, cached)" when the numba kernels of this run are not yet loaded
    in this process (the first chunk then takes 10-30 s, or a few seconds from the on-disk cache).

    Returns whether the message was printed.
    """
    if not enabled or backend != "numba":
        return False
    import importlib

    module, name = _ENTRY_POINTS[bool(summary)]
    if getattr(importlib.import_module(module), name).signatures:
        return False
    print("dcproj: compiling kernels (once, cached for later runs) ...", file=stream or sys.stderr, flush=True)
    return True


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
        self._rate_t0: float | None = None  # the rate is measured from the first chunk's end (compiles excluded)
        self._rate_done = initial
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
        if self._rate_t0 is None or now - self._rate_t0 < 1e-3:
            return 0.0
        return (self.done - self._rate_done) / (now - self._rate_t0)

    def advance(self, n: int) -> None:
        self.done += n
        if self._rate_t0 is None:
            self._rate_t0, self._rate_done = time.perf_counter(), self.done
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
                self._bar.update(self._task, completed=self.done, rate=f"{rate:,.0f} {self.label}/s" if rate > 0 else "")
        elif now - self._last_line >= LINE_EVERY or (self.done >= self.total and now - self._t0 >= QUIET_SECONDS):
            self._last_line = now
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(
                f"dcproj: {self.done:,}/{self.total:,} {self.label} ({100 * self.done / self.total:.0f}%), "
                + (f"{rate:,.0f}/s, " if rate > 0 else "") + f"elapsed {now - self._t0:.0f} s" + (f", ETA {eta:.0f} s" if rate > 0 else ""),
                file=self.stream,
                flush=True,
            )

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
