"""Samplers: a copula across the n samples plus an order set for the inverse CDF.

A sampler is data, not code: the kernels read its copula code and the order tables the plan
builds from it. ``stream`` selects the random stream, so estimators sharing a sampler see the
same samples for the same seed (common random numbers), and different samplers are independent.
"""

from dataclasses import dataclass
from enum import IntEnum

from carms_cli.discrete.sampling.copulas import Copula


class Construction(IntEnum):
    """How copula tuples become categories (the integer is the kernel code)."""

    INVERSE = 0  # CARMS-I: inverse CDF under a random order (spec 9.1)
    GUMBEL = 1  # CARMS-G: Gumbel-max with one copula tuple per category (spec 9.2)
    STICK = 2  # stick-breaking over the ascending order (spec 9.3)
    PAIRS = 3  # binary antithetic pairs b = 1[u > 1 − p], b̃ = 1[u < p] (ARM / DisARM, spec 4)
    SWAPS = 4  # ARSM: one Dirichlet(1) draw π per variable, configurations from swapping π (spec 5)
    SUBSETS = 5  # UNORD: n distinct joint configurations without replacement (spec 10)
    RELAXED = 6  # Gumbel-softmax: K Gumbels per sample, relaxed y and hard argmax (spec 11)


@dataclass(frozen=True)
class SamplerSpec:
    """How the n samples of one variable are drawn.

    ``orders`` is ``"identity"`` (one fixed order) or ``"reference"`` (the CARMS-I order set of
    spec 9.1: K(K−1)/2 orders for K ≥ 3, one order per trial and variable shared by the n
    samples; for K = 2 the single order putting the rarer category first, decision 4).
    """

    name: str
    copula: Copula
    orders: str
    stream: int
    summary: str
    construction: Construction = Construction.INVERSE


_COPULA_WORDS = {
    Copula.DIRICHLET: "Dirichlet copula",
    Copula.GAUSSIAN: "Gaussian copula (rho = -1/(n-1))",
    Copula.INDEPENDENT: "independent copula",
}
_COPULA_SUFFIX = {Copula.DIRICHLET: "dirichlet", Copula.GAUSSIAN: "gaussian", Copula.INDEPENDENT: "independent"}


#: Name prefix, order set and description of the copula samplers, per construction (the others
#: are declared one by one below).
_COPULA_SAMPLERS = {
    Construction.INVERSE: ("carms-i", "reference", "inverse CDF under a random reference order, {}"),
    Construction.GUMBEL: ("carms-g", "identity", "Gumbel-max with one {} tuple per category"),
    Construction.STICK: ("carms-sb", "identity", "stick-breaking over ascending p, {} tuple per stage"),
}


def _sampler(construction: Construction, copula: Copula, stream: int) -> SamplerSpec:
    name, orders, what = _COPULA_SAMPLERS[construction]
    words = _COPULA_WORDS[copula]
    return SamplerSpec(f"{name}-{_COPULA_SUFFIX[copula]}", copula, orders, stream, what.format(words), construction)


INDEPENDENT = SamplerSpec("independent", Copula.INDEPENDENT, "identity", 1, "n iid draws from p")
CARMS_I_DIRICHLET = _sampler(Construction.INVERSE, Copula.DIRICHLET, 2)
CARMS_I_GAUSSIAN = _sampler(Construction.INVERSE, Copula.GAUSSIAN, 3)
CARMS_I_INDEPENDENT = _sampler(Construction.INVERSE, Copula.INDEPENDENT, 4)
CARMS_G_DIRICHLET = _sampler(Construction.GUMBEL, Copula.DIRICHLET, 5)
CARMS_G_GAUSSIAN = _sampler(Construction.GUMBEL, Copula.GAUSSIAN, 6)
CARMS_G_INDEPENDENT = _sampler(Construction.GUMBEL, Copula.INDEPENDENT, 7)
CARMS_SB_DIRICHLET = _sampler(Construction.STICK, Copula.DIRICHLET, 8)
CARMS_SB_GAUSSIAN = _sampler(Construction.STICK, Copula.GAUSSIAN, 9)
CARMS_SB_INDEPENDENT = _sampler(Construction.STICK, Copula.INDEPENDENT, 10)

ANTITHETIC_PAIRS = SamplerSpec(
    "antithetic-pairs",
    Copula.INDEPENDENT,
    "identity",
    11,
    "binary: n/2 pairs b = 1[u > 1-p], b~ = 1[u < p] from one uniform each",
    Construction.PAIRS,
)

ARSM_SWAPS = SamplerSpec(
    "arsm-swaps",
    Copula.INDEPENDENT,
    "identity",
    12,
    "one Dirichlet(1) draw per variable; every swap of two of its entries gives a configuration",
    Construction.SWAPS,
)
WITHOUT_REPLACEMENT = SamplerSpec(
    "without-replacement",
    Copula.INDEPENDENT,
    "identity",
    13,
    "n distinct joint configurations drawn sequentially without replacement (exact, no rejection)",
    Construction.SUBSETS,
)
GUMBEL_NOISE = SamplerSpec(
    "gumbel-noise",
    Copula.INDEPENDENT,
    "identity",
    14,
    "n iid draws: K Gumbels per sample, relaxed softmax((log p + G)/tau) and hard argmax",
    Construction.RELAXED,
)

SAMPLERS = [
    INDEPENDENT,
    CARMS_I_DIRICHLET,
    CARMS_I_GAUSSIAN,
    CARMS_I_INDEPENDENT,
    CARMS_G_DIRICHLET,
    CARMS_G_GAUSSIAN,
    CARMS_G_INDEPENDENT,
    CARMS_SB_DIRICHLET,
    CARMS_SB_GAUSSIAN,
    CARMS_SB_INDEPENDENT,
]


def find_sampler(construction: Construction, copula: Copula) -> SamplerSpec:
    """Return the sampler of a construction and copula."""
    return next(s for s in SAMPLERS[1:] if s.construction == construction and s.copula == copula)
