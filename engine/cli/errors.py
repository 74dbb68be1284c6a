"""How the command line reports errors.

A :class:`~engine.errors.UserError` (a config, an argument, a file, the machine) is printed
as one paragraph with exit status 2; an interruption exits 130; anything else is a bug in
dcproj: its traceback is shown with a request to report it, exit status 1.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import traceback

import click

from engine.errors import Interrupted, UserError

__all__ = ["EXIT_USAGE", "EXIT_BUG", "EXIT_INTERRUPTED", "fail", "reports_errors", "sigterm_as_interrupt"]

EXIT_USAGE = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130
REPORT = "This is a bug in dcproj, not in your input: please report it with the command and the traceback above."


def fail(message: str, code: int = EXIT_USAGE):
    """Print ``dcproj: error: message`` to stderr and exit with ``code``."""
    click.echo(f"dcproj: error: {message}", err=True)
    sys.exit(code)


def reports_errors(func):
    """Run a command body, turning user errors into messages and bugs into reported tracebacks."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            fail(str(exc))
        except Interrupted as exc:
            fail(
                f"interrupted after {exc.done:,} of {exc.total:,} scenarios; no output file was written. The finished chunks "
                f"are kept in {exc.partial}: rerun the same command with --resume to finish the run",
                EXIT_INTERRUPTED,
            )
        except KeyboardInterrupt:
            fail("interrupted; no output file was written", EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception:  # noqa: BLE001 - everything else is ours
            traceback.print_exc()
            fail(REPORT, EXIT_BUG)

    return wrapper


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Turn SIGTERM (batch schedulers, ``kill``) into KeyboardInterrupt, like SIGINT, while running."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
