"""Shared fixtures: the default config, small runs computed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"


@pytest.fixture(scope="session")
def default_config():
    from engine import load_config

    return load_config(DEFAULT_CONFIG)


@pytest.fixture(scope="session")
def default_text() -> str:
    return DEFAULT_CONFIG.read_text()


@pytest.fixture(scope="session")
def small_run(default_config):
    """2 000 scenarios of the default config through the numba backend, float64 storage."""
    from engine import run

    return run(default_config, scenarios=2000, seed=7, dtype="float64")
