"""The one place that sets how Numba compiles the project's kernels.

Every kernel module imports its decorators from here, so the compile options are decided once:
``nopython`` always, ``cache=True`` so that CI and the CLI do not pay the JIT on every start, and
no ``fastmath``: the engine's results must be bit-identical across machines and thread counts,
and fastmath lets LLVM reassociate floating-point sums.
"""

from __future__ import annotations

import numba

jit = numba.njit(cache=True, nogil=True)
"""Decorator for serial kernels and helpers (inlined into callers by LLVM where profitable)."""

parallel_jit = numba.njit(cache=True, nogil=True, parallel=True)
"""Decorator for kernels whose outer loop is a ``numba.prange``."""

inline_jit = numba.njit(cache=True, nogil=True, inline="always")
"""Decorator for small helpers of a kernel's main loop that must not cost a call: Numba
inlines them into their callers' IR (LLVM would not, past a size, and a call passes every
argument)."""
