"""The discrete kernel's ABI: its inputs in signature order, its buffer bundles, its accumulator rows.

:func:`carms_cli.discrete.kernels.trial.simulate_chunk` takes ``start, stop``, then
:class:`KernelArgs` field by field (the plan's fields, declared in that order, and three
per-variable sums; drivers pass ``*args``), then the buffers every call has, in two named
bundles — :class:`Scratch` (per-thread work buffers) and :class:`Outputs` (the chunk's
accumulator row and per-trial record) — which the kernel reads by field name. Buffers that a
specialisation leaves out (``sample``, ``dense``, ``work``, ``iwork``) and the fixed sizes stay
separate parameters: numba prunes the branches that use an argument which is ``None``, which it
cannot do for a member of a tuple.
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


class Scratch(NamedTuple):
    """Per-thread work buffers every kernel call has; it keeps no state in them between chunks.

    Shapes: ``draws``, ``race``, ``f``, ``coef`` (n,), ``z`` (n, D) int64, ``acc`` (K,);
    ``pair_counts`` (K, K) and ``mc_ratio`` (D, K, K) with a Monte Carlo pmf, else (1, 1) and
    (1, 1, 1).
    """

    draws: np.ndarray  #: one copula n-tuple on its latent scale
    race: np.ndarray  #: GUMBEL: each sample's best race time so far
    z: np.ndarray  #: the trial's categories, sample by variable
    f: np.ndarray  #: the objective at each of the n samples
    coef: np.ndarray  #: per-sample coefficients c_i of one variable
    acc: np.ndarray  #: Σ_{i: z_i = k} c_i per category (left zeroed)
    pair_counts: np.ndarray  #: Monte Carlo pmf: pair counts of one variable
    mc_ratio: np.ndarray  #: Monte Carlo pmf: the trial's ratio table per variable


class Outputs(NamedTuple):
    """What one kernel call writes: its chunk's accumulator row, and each trial's g and z when recording.

    Shapes: ``a``, ``a2``, ``ac`` (D, K) hold Σa, Σa², ΣaC; ``c``, ``c2`` (D,) ΣC, ΣC²;
    ``scalars`` (:data:`~carms_cli.discrete.kernels.trial.N_SCALARS`,); with ``record``,
    ``g`` (trials, D, K) and ``z`` (trials, n, D) int64 get trial ``start + t`` at row t (else
    they may be empty).
    """

    a: np.ndarray
    a2: np.ndarray
    ac: np.ndarray
    c: np.ndarray
    c2: np.ndarray
    scalars: np.ndarray
    g: np.ndarray
    z: np.ndarray


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


