"""Non-finite outputs: find the first scenario with a NaN or inf and say which inputs produced it."""

from __future__ import annotations

import numpy as np

from engine.errors import NonFiniteError
from engine.output.variables import cube_dims

__all__ = ["check_finite", "nonfinite_message"]


def check_finite(layout, start: int, arrays: dict[str, np.ndarray]) -> None:
    """Raise :class:`NonFiniteError` naming the first scenario of ``arrays`` with a NaN or inf."""
    count = arrays["inputs"].shape[0]
    for name, values in arrays.items():
        flat = values.reshape(count, -1)
        # a row sum is finite unless a value is NaN or inf (or the sum overflows: then the row is
        # looked at value by value), and summing is one vectorised pass with no boolean temporary
        with np.errstate(over="ignore", invalid="ignore"):
            suspect = np.flatnonzero(~np.isfinite(flat.sum(axis=1)))
        for s in suspect:
            bad = ~np.isfinite(flat[s])
            if bad.any():
                j = int(np.argmax(bad))
                where = name if name == "inputs" else _element_name(name, values.shape[1:], j)
                raise NonFiniteError(nonfinite_message(layout, start, count, int(s), where, arrays["inputs"][s]))


def _element_name(name: str, shape: tuple, j: int) -> str:
    dims = cube_dims(name)[1:]
    idx = np.unravel_index(j, shape)
    return f"{name} ({', '.join(f'{d} index {i}' for d, i in zip(dims, idx, strict=True))})"


def nonfinite_message(layout, start: int, count: int, local: int, where: str, inputs: np.ndarray) -> str:
    """The message of a non-finite value in ``where`` for scenario ``start + local``, with its inputs."""
    shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(layout.names, inputs, strict=True) if not n.startswith("shipments_shock."))
    return (
        f"non-finite value (NaN or inf) in {where} for scenario {start + local} "
        f"(chunk of scenarios {start}..{start + count - 1}); check the config's distributions for this draw. "
        f"Its inputs: {shown}"
    )
