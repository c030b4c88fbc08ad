"""The continuous kernel's inputs, named: :class:`KernelArgs`, in the compiled kernel's parameter order."""

from typing import NamedTuple

import numpy as np


class KernelArgs(NamedTuple):
    """Inputs of the chunk kernels (:data:`~.chunks.KERNELS`) from ``key`` to ``shape_table``.

    The field order is the kernel's parameter order (tests/test_continuous_kernels.py checks it).
    """

    key: np.uint64
    uniforms_per_trial: np.uint64
    dist: int
    estimator: int
    samples: int
    dims: int
    param_a: np.ndarray
    param_b: np.ndarray
    parameters: np.ndarray
    objective: int
    objective_params: np.ndarray
    shift: np.ndarray
    evaluations: int
    taylor_f0: float
    taylor_g0: np.ndarray
    taylor_h: np.ndarray
    taylor_gradient_mean: np.ndarray
    baseline: np.ndarray
    score_offset: np.ndarray
    #: per coordinate, the Gamma shape derivative's per-α table (:func:`~.implicit.prepare_shape`), (D, T),
    #: or the von Mises κ derivative's 1 − A(κ_d) (:func:`~.vonmises.mean_resultant_gap`), (D, 1)
    shape_table: np.ndarray


#: Scratch and output parameters that follow the inputs, in kernel order.
SCRATCH = ("x", "eps", "point", "slope", "g", "term_a", "term_c", "fresh_a", "fresh_c", "beta", "f_values")
OUTPUTS = ("out_s1", "out_s2", "out_scalars")


def scratch_shapes(samples: int, dims: int, size: int) -> dict[str, tuple[int, ...]]:
    """Shapes of the scratch buffers for n samples, D coordinates and P reported coordinates."""
    return {
        "x": (2 * samples, dims),
        "eps": (2 * samples, dims),
        "point": (dims,),
        "slope": (dims,),
        "g": (size,),
        "term_a": (size,),
        "term_c": (size,),
        "fresh_a": (samples, size),
        "fresh_c": (samples, size),
        "beta": (size,),
        "f_values": (samples,),
    }
