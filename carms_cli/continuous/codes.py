"""Integer codes the continuous family's kernels branch on (one enum per choice, one member per branch).

Kept apart from the host code so the compiled kernels import only these enums (the kernel
cache key hashes every module a kernel file imports).
"""

from enum import IntEnum


class ObjectiveCode(IntEnum):
    """The built-in objectives f(x) of a D-dimensional x (see :mod:`carms_cli.continuous.objectives`)."""

    SQUARE = 0  # Σ_d (x_d − k)²
    EXP = 1  # Σ_d exp(−k x_d²)
    COS = 2  # Σ_d cos(k x_d)
    POLY = 3  # Σ_d Σ_i c_i x_d^i
    LOG = 4  # Σ_d log x_d (positive distributions only)
    COS_SUM = 5  # cos(k Σ_d x_d)
    QUAD_FORM = 6  # (Σ_d w_d x_d)²
    STEP = 7  # Σ_d 1[x_d > k] (no derivative: pathwise does not apply)
    LAPLACE = 8  # Σ_d exp(−t x_d) (E is the Laplace transform of the law)
    SIN = 9  # Σ_d sin(k x_d)


class DistributionCode(IntEnum):
    """Distributions of each coordinate x_d (independent across d)."""

    GAUSSIAN = 0  # N(μ_d, σ_d²)
    EXPONENTIAL = 1  # Exp(rate λ_d)
    GAMMA = 2  # Gamma(shape α_d, rate β_d)
    VONMISES = 5  # von Mises(location μ_d, concentration κ_d) on the circle
    BETA = 8  # Beta(a_d, b_d), x = G_a/(G_a + G_b) (carms_cli.continuous.kernels.simplex_trial)
    DIRICHLET = 9  # one Dirichlet(α_1 … α_K) over the K = D coordinates, x = G/ΣG


class EstimatorCode(IntEnum):
    """The estimators of the continuous family (one kernel branch each)."""

    PATHWISE = 0
    SCORE = 1
    SCORE_LOO = 2
    SCORE_DELTA = 3
    PATHWISE_DELTA = 4
    MVD = 5
    MVD_UNCOUPLED = 6
    SCORE_BASELINE = 7  # score with the optimal constant baseline (an oracle: computed exactly)
    IMPLICIT = 8  # f′(x)·∂x/∂θ with the implicit derivative ∂x/∂θ = −(∂F/∂θ)/q
    IMPLICIT_GAMMA_RATIO = 12  # Beta, Dirichlet: f′(x)·∂x/∂θ through x = G/ΣG, the Gamma implicit derivative per G


class ParameterCode(IntEnum):
    """Which parameter a reported coordinate differentiates."""

    MU = 0  # Gaussian location μ
    SIGMA = 1  # Gaussian scale σ
    LOG_SIGMA = 2  # σ·∂/∂σ (the gradient w.r.t. log σ)
    RATE = 3  # Exponential λ or Gamma β
    SHAPE = 4  # Gamma shape α, Dirichlet concentration α_j (no explicit reparameterization: the implicit derivative)
    KAPPA = 9  # von Mises concentration κ (the implicit derivative)
    BETA_A = 10  # Beta first shape a
    BETA_B = 11  # Beta second shape b
