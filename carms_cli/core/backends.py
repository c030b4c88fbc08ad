"""Backend selection: ``cpu``, ``cuda``, ``numpy`` or ``auto``.

Detection never raises and never hangs on a machine without a GPU (it only asks numba-cuda
whether a driver is usable).
"""

import importlib
import importlib.util

from carms_cli.core.errors import InputError

BACKENDS = ("cpu", "cuda", "numpy", "auto")
#: numba-cuda's array-function module, imported by every compile of a kernel. numba-cuda 0.30.4
#: registers ``np.row_stack`` there, which NumPy 2.5 removed: with that pair the import fails.
CUDA_ARRAY_MODULE = "numba.cuda.np.arrayobj"


def cuda_status() -> tuple[bool, str]:
    """(usable, reason) for the CUDA backend."""
    if importlib.util.find_spec("numba_cuda") is None:
        return False, "numba-cuda is not installed (pip install 'carms-cli[cuda]')"
    try:
        from numba import cuda

        if not cuda.is_available():
            return False, "no usable CUDA GPU or driver was found"
        problem = _compile_support_problem()
        if problem:
            return False, problem
        return True, "CUDA GPU available" + (" (simulator)" if _simulated() else "")
    except Exception as exc:  # noqa: BLE001 - any driver failure means "not usable"
        return False, f"CUDA detection failed: {' '.join(str(exc).split())}"


def _compile_support_problem() -> str | None:
    """Why numba-cuda could not compile a kernel against this NumPy, or None.

    Importing :data:`CUDA_ARRAY_MODULE` now turns an incompatible numba-cuda/NumPy pair into a
    "not usable" reason instead of an internal error at the first kernel compile.
    """
    try:
        if importlib.util.find_spec(CUDA_ARRAY_MODULE) is None:
            return None
        importlib.import_module(CUDA_ARRAY_MODULE)
    except Exception as exc:  # noqa: BLE001 - any import failure means "cannot compile"
        from importlib.metadata import version

        import numpy

        return (
            f"numba-cuda {version('numba-cuda')} cannot compile kernels with NumPy {numpy.__version__} "
            f"({' '.join(str(exc).split())}); install a NumPy that numba supports"
        )
    return None


def _simulated() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def resolve_backend(name: str) -> tuple[str, str | None]:
    """Return the backend to run and a note for the report (why ``auto`` chose what it chose)."""
    name = name.lower()
    if name in ("cpu", "numpy"):
        return name, None
    usable, reason = cuda_status()
    if name == "cuda":
        if not usable:
            raise InputError(f"--backend cuda: {reason}")
        return "cuda", reason
    if name == "auto":
        return ("cuda", reason) if usable else ("cpu", f"auto: {reason}; ran on the CPU")
    raise InputError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
