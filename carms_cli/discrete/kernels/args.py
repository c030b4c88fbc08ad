"""The discrete kernel's ABI: its inputs in signature order, and its accumulator rows.

:class:`KernelArgs` lists :func:`carms_cli.discrete.kernels.trial.simulate_chunk`'s inputs in
order: the plan's fields (declared in that order) and three per-variable sums. Drivers pass
``*args``; the CUDA launcher reads fields by name.
"""

from typing import NamedTuple

import numpy as np

from carms_cli.discrete.kernels.trial import N_SCALARS
from carms_cli.discrete.plan import Plan

#: The kernels' inputs in signature order: the plan's fields (declared in that order) and
#: ``Σ_k p²``, ``Σ_k p∇``, ``Σ_k ∇²`` per variable. ``*args`` unpacks them; drivers read by name.
KernelArgs = NamedTuple(
    "KernelArgs",
    [*Plan.__annotations__.items(), ("sum_p2", np.ndarray), ("sum_pg", np.ndarray), ("sum_g2", np.ndarray)],
)


def kernel_args(plan: Plan) -> KernelArgs:
    """Return the plan's tables plus ``Σ_k p²``, ``Σ_k p∇`` and ``Σ_k ∇²`` per variable."""
    grad = plan.exact_gradient
    with np.errstate(over="ignore"):  # gradients near 1e308 overflow to inf: the statistics say so, once
        sum_g2 = (grad**2).sum(axis=1)
    return KernelArgs(
        *plan,
        sum_p2=(plan.probs**2).sum(axis=1),
        sum_pg=(plan.probs * grad).sum(axis=1),
        sum_g2=sum_g2,
    )


def row_buffers(rows: int, d_count: int, k: int):
    """Zeroed accumulator rows: count, Σa, Σa², ΣaC (rows, D, K), ΣC, ΣC² (rows, D), scalars."""
    return (
        np.zeros(rows, dtype=np.int64),
        np.zeros((rows, d_count, k)),
        np.zeros((rows, d_count, k)),
        np.zeros((rows, d_count, k)),
        np.zeros((rows, d_count)),
        np.zeros((rows, d_count)),
        np.zeros((rows, N_SCALARS)),
    )


