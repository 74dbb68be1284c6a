"""Storyline files: reading ``configs/storylines/*.yaml`` and turning each into a validated config.

A storyline file holds a ``name``, an ``order``, a ``description``, ``sources`` and
``overrides`` (``KEY.PATH: VALUE``, as ``dcproj run --set``).  :func:`load_storylines` reads a
directory, a file or a list of them; :func:`storyline_configs` applies each storyline's overrides
to the base config with the ``--set`` machinery, rejecting, before anything runs, a key that does
not exist (naming the file, the key and what exists there) and the keys that would change the
run's shape or its random numbers (:data:`STRUCTURAL_KEYS`).  Running and combining them is
:mod:`engine.execution.storylines`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.config.loading import apply_overrides, load_config, parse_overrides
from engine.config.schema import Config
from engine.errors import ConfigError

__all__ = ["DIM", "NO_OVERRIDES", "STRUCTURAL_KEYS", "Storyline", "read_storyline", "load_storylines", "storyline_configs"]

DIM = "storyline"
SUFFIXES = (".yaml", ".yml")
FILE_KEYS = ("name", "order", "description", "sources", "overrides")
STRUCTURAL_KEYS = {  # top-level keys a storyline may not override, and why
    "seed": "every storyline runs with the same seed (common random numbers)",
    "years": "the storylines share one year axis",
    "regions": "the storylines share one region axis",
    "thresholds": "the storylines share one set of thresholds (pass --threshold to the run)",
}
NO_OVERRIDES = "(none: the config as it is)"



@dataclass(frozen=True)
class Storyline:
    """One storyline: a name, its description and sources, and its config overrides.

    Attributes
    ----------
    name : str
        The label on the ``storyline`` dim.
    description : str
        What the storyline assumes, in words.
    sources : tuple of str
        Where its assumptions come from.
    overrides : dict
        ``{"inputs.pue_ai.mode": 1.15, ...}``: key paths of the config and their new values.
    path : pathlib.Path
        The storyline file.
    order : int or None
        Position among the storylines (``None``: after those with one, by file name).
    """

    name: str
    description: str
    sources: tuple[str, ...]
    overrides: dict
    path: Path
    order: int | None = None

    def override_strings(self) -> list[str]:
        """The overrides as ``KEY.PATH=VALUE`` strings (values in YAML flow style, as ``--set`` takes them)."""
        return [
            f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
            for k, v in self.overrides.items()
        ]

    def record(self) -> dict:
        """The storyline as plain data (for the ``storylines`` attribute)."""
        return {
            "name": self.name,
            "description": self.description,
            "sources": list(self.sources),
            "overrides": self.override_strings(),
            "file": str(self.path),
        }


def read_storyline(path: str | Path) -> Storyline:
    """Read and check one storyline file (see the module docstring for its keys).

    Raises
    ------
    ConfigError
        Naming the file and what is wrong: not YAML, unknown keys, a missing or empty
        description or sources, overrides that are not a mapping of key paths.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: storyline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the storyline file ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with the keys {', '.join(FILE_KEYS)}; got {type(data).__name__}")
    unknown = [k for k in data if k not in FILE_KEYS]
    if unknown:
        raise ConfigError(
            f"{p}: unknown key(s) {unknown}; a storyline has {', '.join(FILE_KEYS)} (config changes go under overrides:)"
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{p}: description: required, a non-empty text saying what the storyline assumes")
    sources = data.get("sources")
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s.strip() for s in sources):
        raise ConfigError(f"{p}: sources: required, a non-empty list of texts naming where the assumptions come from")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict) or not all(isinstance(k, str) and k.strip() for k in overrides):
        raise ConfigError(
            f"{p}: overrides: expected a mapping KEY.PATH: VALUE (as --set KEY.PATH=VALUE), e.g. inputs.pue_ai.mode: 1.15"
        )
    order = data.get("order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool)):
        raise ConfigError(f"{p}: order: expected an integer, got {order!r}")
    name = str(data.get("name") or p.stem)
    return Storyline(name, description.strip(), tuple(s.strip() for s in sources), parse_overrides(overrides), p, order)


def load_storylines(source: str | Path | Iterable[str | Path]) -> list[Storyline]:
    """The storylines of a directory (its ``*.yaml``/``*.yml`` files), of one file, or of a list of files.

    Sorted by ``order`` (those without one last), then by file name.  Names must be unique.
    """
    if isinstance(source, str | Path):
        p = Path(source)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES and f.is_file())
            if not files:
                raise ConfigError(f"{p}: the storylines directory holds no .yaml files")
        elif p.exists():
            files = [p]
        else:
            raise ConfigError(f"{p}: no such storyline file or directory")
    else:
        files = [Path(f) for f in source]
        if not files:
            raise ConfigError("no storyline files given")
    stories = sorted((read_storyline(f) for f in files), key=lambda s: (s.order is None, s.order or 0, s.path.name))
    seen: dict[str, Path] = {}
    for s in stories:
        if s.name in seen:
            raise ConfigError(f"{s.path}: storyline name {s.name!r} is also the name of {seen[s.name]}; names must be unique")
        seen[s.name] = s.path
    return stories


def _check_key(data: Any, key: str, story: Storyline, config_path) -> None:
    """Refuse ``key`` unless it names something that exists in the config ``data``."""
    parts = key.split(".")
    if parts[0] in STRUCTURAL_KEYS:
        raise ConfigError(f"{story.path}: overrides: {key}: a storyline may not change {parts[0]}: {STRUCTURAL_KEYS[parts[0]]}")
    node = data
    for depth, part in enumerate(parts):
        where, parent = ".".join(parts[: depth + 1]), ".".join(parts[:depth]) or "the top level"
        if isinstance(node, dict):
            if part not in node:
                have = [str(k) for k in node]
                close = difflib.get_close_matches(part, have, n=1)
                hint = f" (did you mean {'.'.join([*parts[:depth], close[0]])}?)" if close else ""
                raise ConfigError(
                    f"{story.path}: overrides: {key}: {where} does not exist in {config_path}{hint}; a storyline overrides "
                    f"keys that exist. {parent} has: {', '.join(have)}"
                )
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(
                    f"{story.path}: overrides: {key}: {parent} is a list of {len(node)} items; "
                    f"expected an index 0..{len(node) - 1}"
                )
            node = node[int(part)]
        else:
            raise ConfigError(f"{story.path}: overrides: {key}: {parent} is a value ({node!r}), not a mapping with keys")


def storyline_configs(config: str | Path, storylines: Sequence[Storyline], overrides=None) -> tuple[Config, list[Config]]:
    """The base config (with ``overrides``) and each storyline's config, every one validated before any run.

    Parameters
    ----------
    config
        The config file.
    storylines
        From :func:`load_storylines`.
    overrides
        ``--set`` overrides applied to the base and to every storyline (a storyline's own win).

    Raises
    ------
    ConfigError
        For a key that does not exist or may not change, and for values the schema refuses
        (the ``--set`` messages, prefixed with the storyline file).
    """
    base_sets = parse_overrides(overrides)
    base = load_config(config, overrides=base_sets)
    out = []
    for story in storylines:
        data = base.model_dump(mode="json", by_alias=True)
        for key, value in story.overrides.items():
            _check_key(data, key, story, config)
            data = apply_overrides(data, {key: value}, str(story.path))
        try:
            out.append(load_config(config, overrides={**base_sets, **story.overrides}))
        except ConfigError as exc:
            text = str(exc).replace("[set by --set ", "[set by ")
            raise ConfigError(f"storyline {story.name!r} ({story.path}) applied to {text}") from None
    return base, out

