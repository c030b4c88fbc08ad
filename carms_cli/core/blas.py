"""One BLAS thread for the exact tables' matrix products (no new dependency; Linux OpenBLAS only).

NumPy's OpenBLAS runs a product of more than ~2.6·10⁵ multiply-adds on every core. On a machine
whose cores are busy its threads spin-wait for each other: a 100×4096 by 4096×100 product took
0.46 s on two shared cores against 0.02 s on one (this machine). OpenBLAS splits a product's rows
and columns among its threads, never the sums, so the bits do not depend on the thread count;
:func:`single_thread` only removes the waiting. Where the library or its ``set_num_threads``
cannot be found (another BLAS, another system) it does nothing.
"""

import contextlib
import ctypes
import functools

#: Symbol names of OpenBLAS's thread-count setter and getter across its builds (NumPy's wheels
#: prefix and suffix them).
_SETTERS = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")


@functools.lru_cache(maxsize=1)
def _openblas():
    """Return the (setter, getter) of the OpenBLAS NumPy loaded, or None."""
    import numpy  # noqa: F401  (loads the library)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and line.rstrip().endswith(".so")}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(library, name) for name in _SETTERS if hasattr(library, name)), None)
        getter = next((getattr(library, name) for name in _GETTERS if hasattr(library, name)), None)
        if setter is not None and getter is not None:
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            return setter, getter
    return None


@contextlib.contextmanager
def single_thread():
    """Run the block with one BLAS thread, then restore the previous count."""
    functions = _openblas()
    if functions is None:
        yield
        return
    setter, getter = functions
    previous = getter()
    setter(1)
    try:
        yield
    finally:
        setter(previous)
