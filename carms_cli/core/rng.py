"""Counter-based random numbers: the same stream on every thread count and target.

The uniform for ``(key, counter)`` is a pure function of those two numbers, so a trial's
random numbers do not depend on scheduling, thread count or launch shape. The generator is
SplitMix64 evaluated at an index (Steele, Lea & Flood 2014): ``mix64(key + (counter + 1) * γ)``
with γ the 64-bit golden ratio, which is exactly the ``counter``-th output of a SplitMix64
stream started at ``key``. Keys are themselves mixed from the user seed and a stream id, so
streams of different seeds or samplers start at unrelated points of the 2^64 cycle.

``counter = trial * draws_per_trial + draw``: every trial owns a fixed block of draws.
"""

import math

import numpy as np

from carms_cli.core import jit

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_INV_2_53 = 1.0 / 9007199254740992.0
_TWO_PI = 2.0 * math.pi
_MASK64 = (1 << 64) - 1


@jit.helper(forceinline=True)
def mix64(z):
    """SplitMix64 finaliser (a bijection of 64-bit integers with full avalanche)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@jit.helper(forceinline=True)
def uniform(key, counter):
    """Uniform double in the open interval (0, 1) for ``(key, counter)``.

    The top 53 bits ``m`` of the hash give ``(m + 1/2) / 2^53``, never 0 nor 1, so
    ``log(u)`` is always finite.
    """
    h = mix64(key + (counter + _ONE) * GOLDEN_GAMMA)
    # h >> 11 < 2^53 fits an int64, whose conversion to double is one instruction
    return (np.float64(np.int64(h >> _S11)) + 0.5) * _INV_2_53


@jit.helper(forceinline=True)
def normal_pair(key, counter):
    """Two independent standard normals from draws ``counter`` and ``counter + 1`` (Box–Muller)."""
    u1 = uniform(key, counter)
    u2 = uniform(key, counter + _ONE)
    r = math.sqrt(-2.0 * math.log(u1))
    angle = _TWO_PI * u2
    return r * math.cos(angle), r * math.sin(angle)


def _mix64_py(z: int) -> int:
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def stream_key(seed: int, stream: int) -> int:
    """64-bit key of the stream ``stream`` (a sampler id) for the user seed ``seed``."""
    return _mix64_py(_mix64_py(seed & _MASK64) ^ _mix64_py((stream + 0x51ED) * 0x9E3779B97F4A7C15))


def uniform_py(key: int, counter: int) -> float:
    """Pure-Python twin of :func:`uniform` (used by tests as the reference stream)."""
    h = _mix64_py(key + (counter + 1) * 0x9E3779B97F4A7C15)
    return ((h >> 11) + 0.5) * _INV_2_53
