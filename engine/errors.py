"""The errors dcproj raises for the user, in one place.

Every error a *user* can cause (a config, an argument, a file, the machine) derives from
:class:`UserError`; the command line prints those as one paragraph and exits non-zero.
Anything else that escapes is a bug in dcproj: the command line shows its traceback and
asks for a report.  Each class also derives from the built-in exception a caller would
expect (``ValueError``, ``OSError``, ``RuntimeError``), so ``except ValueError`` keeps working.

This module imports nothing from dcproj.
"""

from __future__ import annotations

__all__ = [
    "UserError",
    "ConfigError",
    "RunError",
    "OutputError",
    "PartialCubeDamaged",
    "ResumeError",
    "ClusterError",
    "WorkersLost",
    "BackendUnavailable",
    "NonFiniteError",
    "AnalysisError",
    "Interrupted",
]


class UserError(Exception):
    """A problem the user can fix; its message says what was given and what was expected."""


class ConfigError(UserError, ValueError):
    """A configuration problem, phrased for the user: file, key path, what was expected."""


class RunError(UserError, ValueError):
    """Invalid run arguments (scenario count, seed, dtype, chunk size, memory limit, backend)."""


class OutputError(UserError, OSError):
    """The output path cannot be written (or must not be replaced)."""


class PartialCubeDamaged(OutputError):
    """The partial cube of an interrupted run cannot be read (e.g. the run was killed mid-write)."""


class ResumeError(UserError, ValueError):
    """A partial run cannot be resumed (missing, or made with other settings)."""


class ClusterError(UserError, ValueError):
    """The dask cluster cannot be created or reached."""


class WorkersLost(ClusterError):
    """A running cluster has had no worker for longer than its timeout, and none came back.

    A sink that keeps the run's finished chunks sets ``partial`` (the sidecar directory); the
    message then says how to finish the run with ``--resume``.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.partial = None

    def __str__(self) -> str:
        if self.partial is None:
            return self.message
        return (
            f"{self.message}. The finished chunks are kept in {self.partial}: once the cluster has workers again, "
            "rerun the same command with --resume to finish the run"
        )


class BackendUnavailable(UserError, RuntimeError):
    """The backend cannot run on this machine (e.g. no CUDA device)."""


class NonFiniteError(UserError, ValueError):
    """A chunk produced NaN or infinite values (a config whose distributions allow such a draw)."""


class AnalysisError(UserError, ValueError):
    """A question asked of a run file that it cannot answer (unknown variable, year, threshold, ...)."""


class Interrupted(KeyboardInterrupt):
    """A resumable run was interrupted; its finished chunks are kept in ``partial``."""

    def __init__(self, partial, done: int, total: int):
        super().__init__(f"interrupted after {done:,} of {total:,} scenarios")
        self.partial, self.done, self.total = partial, done, total
