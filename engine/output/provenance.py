"""Provenance written into every output file, and the code fingerprint that resume keys include.

The recorded config is the **effective** one, serialised from the validated model
(:func:`engine.config.loading.effective_text`): what the run used, whatever overrides or code
changed after the file was read.  The file's own text is kept beside it, labelled as such.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from pathlib import Path

from engine.config.loading import changed_since_loading, config_overrides, config_path, config_sha256, effective_text, file_text
from engine.output.variables import BOUNDARY_TEXT

__all__ = ["global_attrs", "code_hash"]

_ROOTS = ("engine", "kernels")


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """SHA-256 (16 hex digits) over the sources of ``engine/`` and ``kernels/``: the code that
    builds parameter rows, tables, the copula, the kernels and the statistics."""
    here = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for root in _ROOTS:
        for path in sorted((here / root).rglob("*.py")):
            h.update(str(path.relative_to(here)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _config_attrs(config) -> dict:
    attrs = {
        "config_name": config.name,
        "config_path": config_path(config),
        "config_sha256": config_sha256(config),
        "config": effective_text(config),
        "config_note": "config: the effective config (after overrides), serialised from the validated model",
    }
    text = file_text(config)
    if text is not None:
        attrs["config_file_text"] = text
    sets = config_overrides(config)
    if sets:
        attrs["config_overrides"] = "; ".join(sets)
    if changed_since_loading(config):
        attrs["config_note"] += "; it was changed in code after the file was read (config_file_text is the file as read)"
    return attrs


def global_attrs(config, layout, *, seed: int, scenarios: int, backend: str, command: str, kind: str = "full") -> dict:
    """Provenance attributes written into every output file."""
    from engine import __version__

    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    sources = "\n".join(
        dict.fromkeys(f"{n}: {s}" for n, s in zip(layout.names, layout.sources, strict=True) if not n.startswith("shipments_shock."))
    )
    return {
        "title": f"dcproj projection: {config.name}",
        "Conventions": "CF-1.10",
        "dcproj_kind": kind,
        "dcproj_version": __version__,
        "dcproj_code_sha256": code_hash(),
        **_config_attrs(config),
        "seed": str(seed),
        "scenarios": int(scenarios),
        "backend": backend,
        "command": command,
        "created": created,
        "history": f"{created}: {command} (dcproj {__version__})",
        "sources": sources,
        "boundaries": BOUNDARY_TEXT,
        "rng": "Philox4x32-10 keyed by the seed; counter (scenario, stream id of the input's name); Gaussian copula on rank correlations",
    }
