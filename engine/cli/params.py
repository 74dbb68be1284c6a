"""click parameter types of the command line: scenario counts, memory sizes, quantile levels."""

from __future__ import annotations

import click

__all__ = ["Scenarios", "Bytes", "Quantiles"]


class Scenarios(click.ParamType):
    """A positive count that also accepts scientific notation such as ``1e6``."""

    name = "N"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            n = value
        else:
            try:
                f = float(str(value).replace("_", ""))
            except ValueError:
                self.fail(f"expected a whole number such as 100000 or 1e6, got {value!r}", param, ctx)
            if not f.is_integer():
                self.fail(f"expected a whole number, got {value!r}", param, ctx)
            n = int(f)
        if n < 1:
            self.fail(f"expected a positive number of scenarios, got {value!r}", param, ctx)
        return n


class Bytes(click.ParamType):
    """A memory size such as ``8GiB``, ``500MB`` or ``2e9`` (bytes)."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        from dask.utils import parse_bytes

        try:
            n = parse_bytes(str(value))
        except (ValueError, TypeError):
            self.fail(f"expected a size such as 8GiB, 500MB or 2e9, got {value!r}", param, ctx)
        if n < 1:
            self.fail(f"expected a positive size, got {value!r}", param, ctx)
        return int(n)


class Quantiles(click.ParamType):
    name = "Q,Q,..."

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            qs = tuple(float(v) for v in str(value).split(",") if v.strip())
        except ValueError:
            self.fail(f"expected comma-separated levels such as 0.05,0.5,0.95, got {value!r}", param, ctx)
        if not qs or not all(0.0 <= q <= 1.0 for q in qs):
            self.fail(f"quantile levels must lie in [0, 1], got {value!r}", param, ctx)
        return qs
