"""Per-trial logic of the ``implicit`` estimator: f′(x)·∂x/∂θ with the implicit derivative of x.

For a parameter θ without an explicit reparameterization, any exact sampler of x ~ q(·|θ) gives
the pathwise derivative through the CDF F held fixed (Figurnov, Mohamed & Mnih, 2018):

    ∂x/∂θ = −(∂F(x|θ)/∂θ) / q(x|θ),

which depends on (θ, x) only. :func:`implicit_derivative` is the one place that maps a
distribution code and a reported parameter to that derivative — Gamma(α, rate β): x = x̃/β with
x̃ ~ Gamma(α, 1), ∂x/∂α = g(α, x̃)/β, g the compiled series / continued fraction of
:mod:`carms_cli.continuous.kernels.implicit` — so a distribution with a sampler in
:func:`~carms_cli.continuous.kernels.trial.draw_base` and a compiled derivative is one branch here.

Kept out of :mod:`carms_cli.continuous.kernels.trial` because the derivative's module imports
the Gamma sampler from there. The chunk kernel has the signature of the others
(:func:`~carms_cli.continuous.kernels.trial.plain_chunk`) and draws the base samples of their
random layout.
"""

import math

import numpy as np

from carms_cli.continuous.codes import DistributionCode, ParameterCode
from carms_cli.continuous.kernels.implicit import gamma_shape_derivative
from carms_cli.continuous.kernels.trial import accumulate, close_row, draw_base, objective_gradient
from carms_cli.continuous.kernels.vonmises import kappa_derivative
from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel

GAMMA = int(DistributionCode.GAMMA)
SHAPE = int(ParameterCode.SHAPE)
VONMISES = int(DistributionCode.VONMISES)
KAPPA = int(ParameterCode.KAPPA)
MU = int(ParameterCode.MU)


@jit.helper(inline="always")
def implicit_derivative(dist, parameter, d, eps, param_a, param_b, shape_table):  # pragma: no cover - compiled
    """Return ∂x_d/∂θ for the reported ``parameter`` of coordinate d from its standard variate ``eps[d]``.

    Gamma shape: g(α_d, x̃_d)/β_d (x̃ = βx the rate-1 variate; ``shape_table[d]`` is α_d's
    :func:`~carms_cli.continuous.kernels.implicit.prepare_shape` table). von Mises(μ, κ), x = μ + ε:
    ∂x/∂κ = ∂ε/∂κ of :func:`~carms_cli.continuous.kernels.vonmises.kappa_derivative` (``shape_table[d, 0]``
    = 1 − A(κ_d)), and ∂x/∂μ = 1 (the location's implicit derivative is its explicit one).
    NaN for a pair without one.
    """
    if dist == GAMMA and parameter == SHAPE:
        return gamma_shape_derivative(param_a[d], eps[d], shape_table[d]) / param_b[d]
    if dist == VONMISES:
        if parameter == KAPPA:
            return kappa_derivative(param_b[d], shape_table[d, 0], eps[d])
        if parameter == MU:
            return 1.0
    return math.nan


# fmt: off
@cached_kernel(nogil=True, _nrt=False)
def implicit_chunk(
    start, stop, key, uniforms_per_trial, dist, estimator, samples, dims, param_a, param_b, parameters,
    objective, objective_params, shift, evaluations, taylor_f0, taylor_g0, taylor_h, taylor_gradient_mean,
    baseline, score_offset, shape_table,
    x, eps, point, slope, g, term_a, term_c, fresh_a, fresh_c, beta, f_values,
    out_s1, out_s2, out_scalars,
):  # pragma: no cover - compiled
    """Run trials of ``implicit``: g_p = mean_i ∂f/∂x_d(x_i)·∂x_{i,d}/∂θ_j for p = j·D + d."""
    n = samples
    size = parameters.shape[0] * dims
    inv_n = 1.0 / n
    q_sum = 0.0
    q_sq_sum = 0.0
    rejections = 0
    for trial in range(start, stop):
        base = np.uint64(trial) * uniforms_per_trial
        for p in range(size):
            g[p] = 0.0
        rejections += draw_base(key, base, dist, n, dims, param_a, param_b, x, eps)
        for i in range(n):
            objective_gradient(objective, objective_params, x[i], dims, slope)
            for j in range(parameters.shape[0]):
                for d in range(dims):
                    path = implicit_derivative(dist, parameters[j], d, eps[i], param_a, param_b, shape_table)
                    g[j * dims + d] += slope[d] * path
        for p in range(size):
            g[p] *= inv_n
        q = accumulate(g, shift, size, out_s1, out_s2)
        q_sum += q
        q_sq_sum += q * q
    close_row(out_scalars, q_sum, q_sq_sum, evaluations * (stop - start), rejections)
# fmt: on
