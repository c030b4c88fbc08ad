"""The one place compiled code gets its options and its on-disk cache.

:func:`cached_kernel` decorates top-level kernels (compiled with ``cache=True`` and
``error_model="numpy"``); :func:`helper` decorates the scalar helpers they call, which are
compiled into their callers (and re-targeted for the GPU by numba-cuda), never cached on their
own. A lint rule (ruff's banned-api) forbids ``numba.njit`` anywhere else.

Cached kernels live in a directory named after a hash of the numba version and of every file
that compiled code is made of — every module under a ``kernels/`` folder of the package, and
:mod:`carms_cli.core.rng` — found by walking the package, so a new kernel file cannot be left
out: numba itself only checks the stamp of the file that defines a cached function, so an edit
to a helper's file alone would otherwise load a stale kernel.
"""

import contextlib
import hashlib
import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def kernel_sources() -> list[Path]:
    """Return every source file compiled code is built from, in a fixed order.

    That is ``core/rng.py`` and each ``.py`` file under any ``kernels/`` folder of the package.
    """
    kernels = [path for path in _PACKAGE.rglob("*.py") if "kernels" in path.relative_to(_PACKAGE).parts[:-1]]
    return [_PACKAGE / "core" / "rng.py", *sorted(kernels, key=lambda path: path.relative_to(_PACKAGE).as_posix())]


def kernel_cache_dir() -> Path:
    """``$NUMBA_CACHE_DIR`` (or ``$XDG_CACHE_HOME``, default ``~/.cache``) ``/carms-cli/<hash>``."""
    import numba

    digest = hashlib.sha256(numba.__version__.encode())
    for path in kernel_sources():
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
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
    """Return ``numba.njit(cache=True, error_model="numpy", **options)`` with the cache in :func:`kernel_cache_dir`.

    The one place top-level kernels get their compile options.
    """
    import numba

    def decorate(function):
        with _versioned_cache():
            return numba.njit(cache=True, error_model="numpy", **options)(function)

    return decorate


def helper(**options):
    """Return ``numba.njit(**options)`` for a helper compiled into the kernels that call it.

    The helper is not cached on its own: numba caches top-level kernels only, see numba issue
    6845. ``inline="always"`` inlines it at the numba IR level, ``forceinline=True`` at the LLVM
    level.
    """
    import numba

    return numba.njit(**options)
