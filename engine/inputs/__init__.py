"""Model inputs: :mod:`~engine.inputs.registry` (names, units, physical domains, random keys;
imports nothing else of dcproj) and :mod:`~engine.inputs.layout` (a config's kernel layout).

The package itself re-exports the registry only, so that :mod:`engine.config` can use it.
"""

from engine.inputs.registry import INPUTS, InputSpec, input_keys, input_names, input_spec, stable_key

__all__ = ["INPUTS", "InputSpec", "input_keys", "input_names", "input_spec", "stable_key"]
