"""Beta and Dirichlet in ``carms continuous``: input checks, kernel inputs and magnitude bounds.

* ``--dist beta`` — D independent coordinates x_d ~ Beta(a_d, b_d), x_d = G_a/(G_a + G_b) with
  G_a ~ Gamma(a_d), G_b ~ Gamma(b_d); reported parameters a, b or both.
* ``--dist dirichlet`` — one x ~ Dirichlet(α₁ … α_K) over K = D ≥ 2 coordinates, x = G/ΣG with
  G_k ~ Gamma(α_k); reported parameter α (all K). Its marginals are x_k ~ Beta(α_k, α₀ − α_k).

Scores: Beta s_a = ln x − ψ(a) + ψ(a + b), s_b = ln(1 − x) − ψ(b) + ψ(a + b); Dirichlet
s_j = ln x_j − ψ(α_j) + ψ(α₀). The kernel forms ln x_k from ln G_k − ln ΣG (never from an x that
rounded to 0 or 1) and subtracts the constant part computed here (:func:`score_offsets`).

Only separable objectives f = Σ_d φ(x_d) are taken: the CDF-implicit derivative of a Dirichlet
coordinate is that of its marginal Beta, which is a valid path for a sum of functions of one
coordinate each, and the exact moments (:mod:`carms_cli.continuous.exact_simplex`) are 1-D integrals
over one coordinate's Beta law (for a Dirichlet with K ≥ 3 also 2-D ones over pairs of coordinates,
:mod:`carms_cli.continuous.exact_dirichlet`). On the simplex Σ_k x_k = 1, so ``mean`` and a polynomial of degree
at most 1 are constant there and are refused for the Dirichlet.
"""

import numpy as np
from scipy import special

from carms_cli.continuous.codes import ObjectiveCode
from carms_cli.core.errors import InputError

#: Distributions handled here.
SIMPLEX = ("beta", "dirichlet")
#: Separable objectives accepted (by name, as written on the command line).
OBJECTIVE_NAMES = "mean, log, square:k, poly:…, laplace:t, cos:k, exp:k, step:k"


def check_simplex_values(distribution: str, values: dict, least: float) -> None:
    """Refuse shapes below ``least`` and a Dirichlet with K < 2.

    ``least`` is the Gamma shape's minimum, :data:`carms_cli.continuous.problem.MIN_SHAPE_ALPHA`.
    """
    for name, array in values.items():
        if not np.all(array >= least):
            shown = ", ".join(f"{v:g}" for v in np.unique(array))
            raise InputError(
                f"--dist {distribution} needs --{name} ≥ {least:g} (its variates are ratios of Gamma "
                f"variates, which can underflow to 0 below it), got {shown}"
            )
    if distribution == "dirichlet" and values["alpha"].size < 2:
        raise InputError(
            "--dist dirichlet needs K ≥ 2 components: give --alpha as a list (e.g. 0.5,1,2) or one value with --dims K"
        )


def check_simplex_objective(distribution: str, objective) -> None:
    """Refuse objectives that are not separable, and (Dirichlet) those constant on the simplex."""
    if not objective.separable:
        raise InputError(
            f"objective '{objective.spec}' is not separable: --dist {distribution} takes {OBJECTIVE_NAMES}"
        )
    constant = objective.code == ObjectiveCode.POLY and np.all(objective.params[2:] == 0)
    if distribution == "dirichlet" and constant:
        raise InputError(
            f"objective '{objective.spec}' is constant on the simplex (Σ_k x_k = 1): its gradient is 0; "
            "use square:k, log, poly with a square term, laplace:t, cos:k, exp:k or step:k"
        )


def rest_concentrations(alpha: np.ndarray) -> np.ndarray:
    """Return α₀ − α_k as Σ_{j≠k} α_j (the marginal Beta's second shape, with no cancellation)."""
    return np.array([alpha[np.arange(alpha.size) != k].sum() for k in range(alpha.size)])


def kernel_parameters(problem) -> tuple[np.ndarray, np.ndarray]:
    """Return the kernel's (param_a, param_b): Beta (a, b); Dirichlet (α, α₀ − α)."""
    if problem.distribution == "beta":
        return problem.value("a"), problem.value("b")
    alpha = problem.value("alpha")
    return alpha, rest_concentrations(alpha)


def score_offsets(problem) -> np.ndarray:
    """Return the scores' constant parts per reported coordinate (the kernel's s = ln(statistic) − offset).

    Beta: a: ψ(a) − ψ(a + b), b: ψ(b) − ψ(a + b); Dirichlet α_j: ψ(α_j) − ψ(α₀).
    """
    first, second = kernel_parameters(problem)
    total = special.digamma(first + second)
    parts = {"a": special.digamma(first) - total, "b": special.digamma(second) - total}
    parts["alpha"] = parts["a"]
    return np.ascontiguousarray(np.concatenate([parts[name] for name in problem.parameters]), dtype=float)


def shape_tables(problem) -> np.ndarray:
    """Return the Gamma shape derivative's table for every Gamma drawn: Beta a_d then b_d (2D × T); Dirichlet α_k."""
    from carms_cli.continuous.kernels.implicit import TABLE_SIZE, shape_table

    if problem.distribution == "beta":
        shapes = np.concatenate([problem.value("a"), problem.value("b")])
    else:
        shapes = problem.value("alpha")
    tables = np.zeros((shapes.size, TABLE_SIZE))
    for row, shape in enumerate(shapes):
        shape_table(float(shape), tables[row])
    return tables
