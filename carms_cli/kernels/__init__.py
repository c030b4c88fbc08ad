"""Numba kernels. ``trial`` holds the per-trial logic (allocation-free, shared by every target);
``cpu`` drives it over trials in parallel chunks.

Compiled kernels are cached on disk in a directory named after a hash of every kernel source
file and the numba version: numba itself only checks the stamp of the file that defines a
cached function, so an edit to ``trial.py`` or ``rng.py`` alone would otherwise load a stale
kernel.
"""

import contextlib
import hashlib
import os
from pathlib import Path

_KERNEL_SOURCES = ("rng.py", "kernels/trial.py", "kernels/dense.py", "kernels/unordered.py", "kernels/cpu.py")


def kernel_cache_dir() -> Path:
    """``$NUMBA_CACHE_DIR`` (or ``$XDG_CACHE_HOME``, default ``~/.cache``) ``/carms-cli/<hash>``."""
    import numba

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(numba.__version__.encode())
    for name in _KERNEL_SOURCES:
        digest.update((package / name).read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "carms-cli"
    )
    return Path(base) / f"kernels-{digest.hexdigest()[:16]}"


@contextlib.contextmanager
def _versioned_cache():
    from numba.core import config

    previous = config.CACHE_DIR
    config.CACHE_DIR = str(kernel_cache_dir())
    try:
        yield
    finally:
        config.CACHE_DIR = previous


def cached_kernel(**options):
    """``numba.njit(cache=True, error_model="numpy", **options)`` with the cache in
    :func:`kernel_cache_dir`: the one place top-level kernels get their compile options."""
    import numba

    def decorate(function):
        with _versioned_cache():
            return numba.njit(cache=True, error_model="numpy", **options)(function)

    return decorate
