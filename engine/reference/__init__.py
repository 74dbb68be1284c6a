"""Plain-NumPy reference implementations (no numba), used to cross-check the kernels."""
