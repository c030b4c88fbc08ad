"""Estimator specifications: what the registry holds and the kernels read.

Most estimators here have the form ``g_d = Σ_i c_{i,d} (e_{z_{i,d}} − p_d)``: a per-sample
coefficient ``c_{i,d}`` times the score of sample i w.r.t. the logits of variable d. The
weighting decides the coefficient; the sampler decides the samples. ARSM and the Gumbel
relaxations are *dense*: they produce every coordinate of g directly.
"""

from dataclasses import dataclass
from enum import IntEnum

from carms_cli.discrete.estimators.requirements import BINARY_ONLY, NEEDS_RELAXATION, Requirement
from carms_cli.discrete.sampling.samplers import SamplerSpec


class Weighting(IntEnum):
    """How per-sample coefficients are formed (the integer is the kernel code)."""

    SCORE = 0  # c_i = f_i / n
    LEAVE_ONE_OUT = 1  # c_i = (f_i − f̄) / (n − 1)
    IMPORTANCE = 2  # c_{i,d} = Σ_{j≠i} w_d(z_i, z_j) (f_i − f_j) / (n(n − 1))
    ARM = 3  # binary pairs: (f(b) − f(b̃))(u − 1/2) per pair
    DISARM = 4  # binary pairs: ½ (f(b) − f(b̃)) max(p, 1 − p)(b − b̃) per pair
    ARSM = 5  # dense: Σ_j (f(z^{c↔j}) − f̄^j)(1/K − π_j)
    UNORD = 6  # c_s = q(s) R(S, s)(f(s) − B(S, s)) on n distinct configurations
    GUMBEL_SOFTMAX = 7  # dense: (1/τ)(diag(y) − y yᵀ) ∇_y f(y), f extended to the simplex
    STRAIGHT_THROUGH = 8  # dense: (1/τ)(diag(y) − y yᵀ) ∇_y f at the hard one-hot

    @property
    def dense(self) -> bool:
        """True when the kernel writes g directly instead of per-sample coefficients."""
        return self in (Weighting.ARSM, Weighting.GUMBEL_SOFTMAX, Weighting.STRAIGHT_THROUGH)


@dataclass(frozen=True)
class EstimatorSpec:
    """One registered estimator: a sampler and a weighting, with what users need to know."""

    name: str
    summary: str
    sampler: SamplerSpec
    weighting: Weighting
    unbiased_by_design: bool
    reference: str
    #: IMPORTANCE only: "exact" ``p_a p_b / P(a, b)``; "reference" the reference code's
    #: ``clip((p_a p_b + 1e-3)/(P(a, b) + 1e-3), 0.01, 10)`` on the exact P; "reference-mc" the
    #: same on a fresh Monte Carlo estimate of P from ``mc_pmf_draws`` sample sets per call.
    ratio: str = "exact"
    mc_pmf_draws: int = 0
    #: Applicability rules (:mod:`carms_cli.discrete.estimators.requirements`), asked in order.
    requires: tuple[Requirement, ...] = ()
    #: Gumbel relaxations: the temperature τ of softmax((log p + G)/τ).
    temperature: float = 0.0
    #: Its samples are n draws per variable with duplicate statistics (ARSM has none).
    has_samples: bool = True

    @property
    def binary_only(self) -> bool:
        """Defined only for K = 2 (binary variables)."""
        return BINARY_ONLY in self.requires

    @property
    def needs_relaxation(self) -> bool:
        """Needs a differentiable extension of f to the simplex (refused on full-table objectives)."""
        return NEEDS_RELAXATION in self.requires
