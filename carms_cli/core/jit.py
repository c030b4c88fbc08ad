"""The one place compiled code gets its options and its on-disk cache.

:func:`cached_kernel` decorates top-level kernels (compiled with ``cache=True`` and
``error_model="numpy"``); :func:`helper` decorates the scalar helpers they call, which are
compiled into their callers (and re-targeted for the GPU by numba-cuda), never cached on their
own. A lint rule (ruff's banned-api) forbids ``numba.njit`` anywhere else.

Cached kernels live in a directory named after a hash of the numba version and of every file
that compiled code is made of — every module under a ``kernels/`` folder of the package,
:mod:`carms_cli.core.rng`, and every package module those import at module level (the enums
whose members are the kernel's integer codes, for instance) — found by walking the package and
its imports, so a new kernel file or dependency cannot be left out: numba itself only checks
the stamp of the file that defines a cached function, so an edit to a helper's file or to an
enum alone would otherwise load a stale kernel.
"""

import contextlib
import functools
import hashlib
import os
import re
import sys
import tempfile
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
#: ``from carms_cli.X import …`` at the start of a line: module-level imports (lazy imports
#: inside functions are indented and belong to host code, not to what a kernel compiles).
#: Decorators of compiled code (the CUDA kernels too).
_COMPILED = re.compile(r"@(?:cached_kernel|jit\.helper|cuda\.jit)\b")
_TOP_LEVEL_IMPORT = re.compile(r"^from carms_cli((?:\.\w+)+) import ([\w, ]+)", re.M)


def _module_file(dotted: str) -> Path | None:
    path = _PACKAGE.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[Path]:
    """Package files ``path`` imports at module level (``from carms_cli.a import b``: a, or a.b)."""
    found = set()
    for module, names in _TOP_LEVEL_IMPORT.findall(path.read_text()):
        dotted = module.lstrip(".")
        for name in (part.strip() for part in names.split(",")):
            target = _module_file(f"{dotted}.{name}") or _module_file(dotted)
            if target is not None:
                found.add(target)
    return found


@functools.lru_cache(maxsize=1)
def kernel_sources() -> tuple[Path, ...]:
    """Return every source file compiled code is built from, in a fixed order.

    That is ``core/rng.py``, each ``.py`` file under any ``kernels/`` folder of the package, and
    the package modules that these import at module level, transitively.
    """
    kernels = {path for path in _PACKAGE.rglob("*.py") if "kernels" in path.relative_to(_PACKAGE).parts[:-1]}
    # follow imports from the files that hold compiled code (host-only files such as the NumPy
    # backend are hashed themselves, but what they import is not compiled)
    pending = [_PACKAGE / "core" / "rng.py", *(path for path in kernels if _COMPILED.search(path.read_text()))]
    seen = set(kernels)
    while pending:
        path = pending.pop()
        if path in seen and path not in kernels:
            continue
        seen.add(path)
        kernels.discard(path)  # expanded once
        pending.extend(_imports(path) - seen)
    return tuple(sorted(seen, key=lambda path: path.relative_to(_PACKAGE).as_posix()))


@functools.lru_cache(maxsize=1)
def _sources_digest() -> str:
    import numba

    digest = hashlib.sha256(numba.__version__.encode())
    for path in kernel_sources():
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _warn(message: str) -> None:
    """One line on stderr (the kernel cache never stops a run)."""
    print(f"warning: {message}", file=sys.stderr)


def kernel_cache_dir() -> Path:
    """``$NUMBA_CACHE_DIR`` (or ``$XDG_CACHE_HOME``, default ``~/.cache``) ``/carms-cli/<hash>``.

    A directory that cannot be created or written falls back, with one warning, to
    ``<tmp>/carms-cli-<uid>/<hash>`` (numba itself would fall back to the package's own folder,
    outside the versioned directory).
    """
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "carms-cli"
    )
    path = Path(base) / f"kernels-{_sources_digest()}"
    if _writable(path):
        return path
    fallback = Path(tempfile.gettempdir()) / f"carms-cli-{os.getuid()}" / path.name
    if not _FALLBACK_WARNED:
        _FALLBACK_WARNED.append(True)
        _warn(f"the kernel cache directory '{path}' is not writable; caching in '{fallback}' instead")
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


_FALLBACK_WARNED: list[bool] = []
_DAMAGE_WARNED: list[bool] = []


@functools.lru_cache(maxsize=8)
def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


@functools.lru_cache(maxsize=1)
def _self_healing_cache_class():
    """Numba's FunctionCache with a load that discards a damaged entry (defined once, on first use)."""
    from numba.core.caching import FunctionCache

    class SelfHealingCache(FunctionCache):
        def load_overload(self, sig, target_context):
            try:
                return super().load_overload(sig, target_context)
            except Exception as exc:  # any failure to read an entry means it is damaged
                index = Path(self._cache_file._index_path)
                for damaged in [index, *index.parent.glob(index.name.removesuffix(".nbi") + ".*.nbc")]:
                    with contextlib.suppress(OSError):
                        damaged.unlink()
                if not _DAMAGE_WARNED:
                    _DAMAGE_WARNED.append(True)
                    _warn(
                        f"discarded damaged kernel cache entries in '{index.parent}' ({type(exc).__name__}: {exc}); "
                        "recompiling"
                    )
                return None

    return FunctionCache, SelfHealingCache


def _self_healing_cache(dispatcher):
    """Give ``dispatcher`` a cache that discards a damaged entry (with one warning) and recompiles.

    numba unpickles cached kernels; a truncated or corrupted file (a full disk, a killed
    process) raises there, and every later run would fail the same way. The damaged entry's
    index and data files are removed instead, so the kernel compiles again and is saved afresh.
    """
    function_cache, self_healing = _self_healing_cache_class()
    if type(getattr(dispatcher, "_cache", None)) is not function_cache:
        return dispatcher  # another numba version's internals: keep numba's own cache
    dispatcher._cache = self_healing(dispatcher.py_func)
    return dispatcher


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
            return _self_healing_cache(numba.njit(cache=True, error_model="numpy", **options)(function))

    return decorate


def helper(**options):
    """Return ``numba.njit(**options)`` for a helper compiled into the kernels that call it.

    The helper is not cached on its own: numba caches top-level kernels only, see numba issue
    6845. ``inline="always"`` inlines it at the numba IR level, ``forceinline=True`` at the LLVM
    level.
    """
    import numba

    return numba.njit(**options)
