"""Backend selection: ``cpu``, ``cuda``, ``numpy`` or ``auto``.

Detection never raises and never hangs on a machine without a GPU (it only asks numba-cuda
whether a driver is usable).
"""

import importlib.util

from carms_cli.core.errors import InputError

BACKENDS = ("cpu", "cuda", "numpy", "auto")


def cuda_status() -> tuple[bool, str]:
    """(usable, reason) for the CUDA backend."""
    if importlib.util.find_spec("numba_cuda") is None:
        return False, "numba-cuda is not installed (pip install 'carms-cli[cuda]')"
    try:
        from numba import cuda

        if cuda.is_available():
            return True, "CUDA GPU available" + (" (simulator)" if _simulated() else "")
        return False, "no usable CUDA GPU or driver was found"
    except Exception as exc:  # noqa: BLE001 - any driver failure means "not usable"
        return False, f"CUDA detection failed: {' '.join(str(exc).split())}"


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
