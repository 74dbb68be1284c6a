"""Reading configs: YAML or TOML text → overrides → schema → :class:`~engine.config.schema.Config`.

Errors name the file, the key path and what was expected.  YAML is read with
``yaml.safe_load`` only (no code execution from configs).  Overrides (``--set KEY=VALUE``,
or ``load_config(path, overrides={...})``) are applied to the parsed mapping *before*
validation, so they meet the same schema and the same error messages as the file.

Provenance: a loaded config remembers its file, the file's text and the overrides; the
*effective* config (:func:`effective_text`, serialised from the validated model) is what
output files record and what resume keys hash, so a config changed after loading (by
overrides or ``model_copy(update=...)``) can never be recorded under its old text.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tomllib
import yaml
from pydantic import ValidationError

from engine.config.schema import Config
from engine.distributions import KINDS
from engine.errors import ConfigError

__all__ = [
    "load_config",
    "parse_config",
    "parse_overrides",
    "apply_overrides",
    "effective_text",
    "config_sha256",
    "config_path",
    "file_text",
    "config_overrides",
    "changed_since_loading",
]


def _loc(loc: tuple) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif p in KINDS and parts:  # discriminated-union tag, not a key the user wrote
            continue
        elif isinstance(p, str) and p.startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def parse_overrides(items: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """``KEY.PATH=VALUE`` strings (values read as YAML: ``1.15``, ``[a, b]``, ``{kind: fixed, ...}``)
    or a mapping → an ordered ``{key path: value}`` dict."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): v for k, v in items.items()}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set inputs.pue_ai.mode=1.15 or --set years.end=2040")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({exc})") from None
    return out


def apply_overrides(data: dict, overrides: Mapping[str, Any], path: str) -> dict:
    """A copy of ``data`` with each ``key.path`` set to its value (list items by index: ``correlations.0.rho``)."""
    data = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        node: Any = data
        for depth, part in enumerate(parts):
            where = ".".join(parts[: depth + 1])
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{path}: --set {key}: {where} is not an item of a list of {len(node)}; expected an index 0..{len(node) - 1}")
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                parent = ".".join(parts[:depth]) or "(top level)"
                raise ConfigError(f"{path}: --set {key}: {parent} is a value ({node!r}), not a mapping with keys")
    return data


def _kind_signature(kind: str) -> str:
    """``low, mode, high, lamb (default 4.0), source, note (optional)`` of distribution ``kind``."""
    from engine.distributions import kind_parameters

    parts = []
    for name, need, _ in kind_parameters()[kind]:
        if need == "required":
            parts.append(name)
        elif need == "default None":
            parts.append(f"{name} (optional)")
        else:
            parts.append(f"{name} ({need})")
    return ", ".join(parts)


def _format_errors(exc: ValidationError, path: str, overrides: Mapping[str, Any]) -> str:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        where = _loc(err["loc"])
        extra = ""
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the schema; check the spelling)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif got is not None and not isinstance(got, dict | list):
            extra = f" (got {got!r})"
        kind = next((p for p in err["loc"] if isinstance(p, str) and p in KINDS), None)
        if kind and err["type"] in ("missing", "extra_forbidden"):
            extra += f"; {kind} takes {_kind_signature(kind)}"
        by = [k for k in overrides if where and (where == k or where.startswith(k + ".") or k.startswith(where + "."))]
        if by:
            extra += " [set by --set " + ", ".join(f"{k}={overrides[k]!r}" for k in by) + "]"
        lines.append(f"{path}: {where}: {msg}{extra}" if where else f"{path}: {msg}{extra}")
    return "\n".join(dict.fromkeys(lines))


def parse_config(
    text: str, path: str | Path = "<string>", fmt: str | None = None, overrides: Iterable[str] | Mapping[str, Any] | None = None
) -> Config:
    """Parse and validate config ``text`` (with ``overrides``); errors name ``path`` and the key path."""
    path = str(path)
    fmt = fmt or ("toml" if path.endswith(".toml") else "yaml")
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {fmt.upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (name, years, regions, inputs, ...), got {type(data).__name__}")
    sets = parse_overrides(overrides)
    data = apply_overrides(data, sets, path)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, path, sets)) from None
    config._path = path
    config._file_text = text
    config._overrides = tuple(f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}" for k, v in sets.items())
    config._loaded_text = effective_text(config)
    return config


def load_config(path: str | Path, overrides: Iterable[str] | Mapping[str, Any] | None = None) -> Config:
    """Read and validate the YAML (``.yaml``/``.yml``) or TOML (``.toml``) file ``path``.

    Parameters
    ----------
    path
        The config file.
    overrides
        ``{"inputs.pue_ai.mode": 1.15, "years.end": 2040}`` or ``["inputs.pue_ai.mode=1.15", ...]``:
        values set before validation (the recorded config is the effective one).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc})") from None
    return parse_config(text, p, overrides=overrides)


def effective_text(config: Config) -> str:
    """The effective config as YAML, serialised from the validated model (what a run used)."""
    data = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


# libyaml's emitter when PyYAML has it (5x faster, the same text: tests/test_config.py), else PyYAML's own
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def config_sha256(config: Config) -> str:
    """SHA-256 of :func:`effective_text`."""
    return hashlib.sha256(effective_text(config).encode("utf-8")).hexdigest()


def config_path(config: Config) -> str:
    """The file the config was read from (``<in memory>`` if built in code)."""
    return config._path


def file_text(config: Config) -> str | None:
    """The config file's text as read (before overrides), or ``None`` if built in code."""
    return config._file_text


def config_overrides(config: Config) -> tuple[str, ...]:
    """The ``KEY=VALUE`` overrides applied when loading."""
    return config._overrides


def changed_since_loading(config: Config) -> bool:
    """Whether the config differs from what was loaded (e.g. ``model_copy(update=...)`` in code)."""
    return config._loaded_text is not None and config._loaded_text != effective_text(config)
