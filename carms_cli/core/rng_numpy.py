"""The counter-based stream of :mod:`carms_cli.core.rng` on NumPy ``uint64`` arrays (no numba).

The NumPy backends draw the very numbers the compiled kernels draw: multiplication and
addition wrap modulo 2^64 as in the kernels.
"""

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_ONE = np.uint64(1)
_INV_2_53 = 1.0 / 9007199254740992.0


def hashes(key, counters: np.ndarray) -> np.ndarray:
    """``mix64(key + (c + 1)·γ)`` elementwise: the 64-bit hash behind the uniform at counter c.

    ``mix64(z)``: ``z ← (z ⊕ z≫30)·M1``, ``z ← (z ⊕ z≫27)·M2``, ``z ⊕ z≫31`` modulo 2^64 — the
    vectorised twin of :func:`carms_cli.core.rng.mix64`, bit for bit. ``key`` may be an array
    (one sub-key per element).
    """
    z = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.asarray(key, dtype=np.uint64) + (z + _ONE) * _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z ^= z >> np.uint64(31)
    return z


def uniforms(key, counters: np.ndarray) -> np.ndarray:
    """Uniform doubles in (0, 1): ``((h >> 11) + ½) · 2^−53`` with h = :func:`hashes` (the kernel's ``uniform``)."""
    return ((hashes(key, counters) >> np.uint64(11)).astype(np.int64).astype(np.float64) + 0.5) * _INV_2_53
