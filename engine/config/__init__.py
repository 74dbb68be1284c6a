"""Configs: the schema (:mod:`.schema`), loading with overrides and error messages
(:mod:`.loading`), physical-domain checks (:mod:`.domains`) and the copula (:mod:`.copula`).

Imports :mod:`engine.distributions`, :mod:`engine.inputs.registry` and :mod:`engine.errors`
only; nothing here runs a model.
"""

from engine.config.loading import config_sha256, effective_text, load_config, parse_config
from engine.config.schema import Config, Correlation, Threshold, Years
from engine.errors import ConfigError

__all__ = ["Config", "ConfigError", "Correlation", "Threshold", "Years", "config_sha256", "effective_text", "load_config", "parse_config"]
