"""Samplers: a copula across the n samples plus an order set for the inverse CDF.

A sampler is data, not code: the kernels read its copula code and the order tables the plan
builds from it. ``stream`` selects the random stream, so estimators sharing a sampler see the
same samples for the same seed (common random numbers), and different samplers are independent.
"""

from dataclasses import dataclass

from carms_cli.copulas import Copula


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


INDEPENDENT = SamplerSpec("independent", Copula.INDEPENDENT, "identity", 1, "n iid draws from p")
CARMS_I_DIRICHLET = SamplerSpec(
    "carms-i-dirichlet",
    Copula.DIRICHLET,
    "reference",
    2,
    "inverse CDF under a random reference order, Dirichlet copula across the n samples",
)
CARMS_I_GAUSSIAN = SamplerSpec(
    "carms-i-gaussian",
    Copula.GAUSSIAN,
    "reference",
    3,
    "inverse CDF under a random reference order, Gaussian copula (rho = -1/(n-1))",
)
