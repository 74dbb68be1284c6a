"""Write the kernel arithmetic once, compile it for several targets.

Every function of the model, the RNG and the inverse CDFs is a plain Python function
marked with :func:`kernel`.  The marker returns the function unchanged, so the same
code runs as interpreted Python (tests with the JIT off, as pvlib's ``spa`` does) and is
compiled per target by :func:`build`: ``numba.njit`` for the CPU, ``numba.cuda.jit(device=True)``
for the GPU.  :func:`build` clones each marked function with a fresh globals dict in
which every other marked function is already replaced by its compiled counterpart, so
calls between kernel functions resolve within one target.  There is no second,
hand-kept copy of the equations.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterable, Mapping

__all__ = ["kernel", "build"]

_MARK = "_dcproj_kernel"


def kernel(func: Callable) -> Callable:
    """Mark ``func`` as target-independent kernel arithmetic (returns it unchanged)."""
    setattr(func, _MARK, True)
    return func


def build(
    jit: Callable[[Callable], Callable],
    modules: Iterable[types.ModuleType],
    jit_for: Mapping[str, Callable[[Callable], Callable]] | None = None,
) -> types.SimpleNamespace:
    """Compile every :func:`kernel` function of ``modules`` with ``jit``.

    Parameters
    ----------
    jit
        Decorator applied to each cloned function, e.g. ``numba.njit`` or
        ``functools.partial(numba.cuda.jit, device=True)``.
    modules
        Modules holding marked functions.  The modules whose marked functions these import
        come with them (transitively).  Their module-level names (constants, ``math``,
        ``numpy``) are merged into one namespace, so names must not clash across modules,
        except on purpose: a marked function of an earlier module shadows a marked function of
        the same name in a later one (how :mod:`kernels._cuda_builtins` gives the CUDA build
        its own ``max``, ``min`` and libdevice ``exp``/``log``/``pow``).

    Returns
    -------
    types.SimpleNamespace
        One attribute per marked function (of ``modules`` and the modules they import them
        from), holding its compiled version.
    """
    modules = _with_dependencies(list(modules))
    ns: dict = {}
    for mod in modules:
        ns.update({k: v for k, v in vars(mod).items() if not k.startswith("__")})
    marked = {}
    for mod in modules:
        for name, obj in vars(mod).items():
            if isinstance(obj, types.FunctionType) and getattr(obj, _MARK, False):
                if obj.__module__ == mod.__name__:
                    marked.setdefault(name, obj)  # the first module to define a name shadows the later ones
    for name, func in marked.items():
        clone = types.FunctionType(func.__code__, ns, func.__name__, func.__defaults__, func.__closure__)
        clone.__module__ = func.__module__
        clone.__qualname__ = func.__qualname__
        clone.__doc__ = func.__doc__
        ns[name] = (jit_for or {}).get(name, jit)(clone)
    return types.SimpleNamespace(**{name: ns[name] for name in marked})


def _with_dependencies(modules: list[types.ModuleType]) -> list[types.ModuleType]:
    """``modules`` and, after them, every module whose marked functions one of them imports."""
    out = list(modules)
    for mod in out:  # grows while it is walked: dependencies of dependencies
        for obj in vars(mod).values():
            if isinstance(obj, types.FunctionType) and getattr(obj, _MARK, False) and obj.__module__ != mod.__name__:
                dep = sys.modules[obj.__module__]
                if dep not in out:
                    out.append(dep)
    return out
