"""dcproj engine: configuration, orchestration, I/O, analysis and the command line.

Typical use::

    from engine import load_config, run
    ds = run(load_config("configs/default.yaml"), scenarios=100_000, seed=42)

Packages, in the order data flows through them: :mod:`engine.config` → :mod:`engine.inputs`
→ :mod:`engine.distributions` → :mod:`engine.backends` (kernels) → :mod:`engine.execution`
(chunks, executors) → :mod:`engine.stats` / :mod:`engine.output` (sinks) →
:mod:`engine.analysis` (reading results) and :mod:`engine.cli`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dcproj")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.1.0+unknown"

from engine.config import Config, load_config  # noqa: E402
from engine.errors import ConfigError  # noqa: E402
from engine.execution import run, run_to_file  # noqa: E402

import engine.analysis.accessor  # noqa: E402,F401  (registers the ds.dcproj accessor)

__all__ = ["Config", "ConfigError", "load_config", "run", "run_to_file", "__version__"]
