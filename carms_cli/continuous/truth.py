"""The exact ground truth of a continuous problem, whatever its distribution: one entry point per quantity.

Gaussian, Exponential and Gamma problems are computed by :mod:`carms_cli.continuous.exact`, Beta and
Dirichlet ones by :mod:`carms_cli.continuous.exact_simplex` (which uses the former's quadrature, so the
choice is made here and not inside either), except the moments and baselines of a Dirichlet with
K ≥ 3: :mod:`carms_cli.continuous.exact_dirichlet` (which uses the latter's Beta laws).
"""

import numpy as np

from carms_cli.continuous import exact, exact_dirichlet, exact_simplex
from carms_cli.core.family import ExactMoments

#: Distributions whose ground truth is :mod:`carms_cli.continuous.exact_simplex`'s.
SIMPLEX = ("beta", "dirichlet")


def _pairs(problem) -> bool:
    """Whether the moments are :mod:`carms_cli.continuous.exact_dirichlet`'s (a Dirichlet with K ≥ 3)."""
    return problem.distribution == "dirichlet" and problem.dims > 2


def exact_expectation(problem) -> float:
    """Return E f(x) (see :func:`carms_cli.continuous.exact.exact_expectation`)."""
    if problem.distribution in SIMPLEX:
        return exact_simplex.simplex_expectation(problem)
    return exact.exact_expectation(problem)


def exact_gradient(problem) -> np.ndarray:
    """Return ∂E f/∂θ of the reported coordinates, in ``problem.coordinate_names()`` order."""
    if problem.distribution in SIMPLEX:
        return exact_simplex.simplex_gradient(problem)
    return exact.exact_gradient(problem)


def exact_moments(problem, estimator_name: str) -> ExactMoments | str:
    """Return the exact mean, variance and fourth central moment of one estimate, or why they are not computed."""
    if _pairs(problem):
        return exact_dirichlet.dirichlet_moments(problem, estimator_name)
    if problem.distribution in SIMPLEX:
        return exact_simplex.simplex_moments(problem, estimator_name)
    return exact.exact_moments(problem, estimator_name)


def optimal_baseline(problem) -> np.ndarray:
    """Return the optimal constant baseline E[f s²]/E[s²] of each reported coordinate."""
    if _pairs(problem):
        return exact_dirichlet.dirichlet_baseline(problem)
    if problem.distribution in SIMPLEX:
        return exact_simplex.simplex_baseline(problem)
    return exact.optimal_baseline(problem)
