"""How large a continuous run's estimates can get, known before sampling: overflow refused up front.

Every uniform of the random stream lies in ``[2^-54, 1 − 2^-54]`` (:func:`carms_cli.core.rng.uniform`),
so every standard variate the kernels draw is bounded:

* a Box–Muller normal by ``√(2·54 ln 2) ≈ 8.65``, a Maxwell magnitude ``√(2E + N²)`` (the
  measure-valued derivative of σ) by ``√(4·54 ln 2) ≈ 12.2`` — :data:`NORMAL_REACH`;
* an Exp(1) variate ``−log U`` by ``54 ln 2 ≈ 37.4``, a Gamma(2) sum of two by twice that —
  :data:`EXPONENTIAL_REACH`;
* a Marsaglia–Tsang Gamma(a) variate ``d(1 + cz)³`` (``d = a − 1/3``, ``c = 1/√(9d)``, ``|z| ≤ 8.65``)
  by that expression at the largest z (shape < 1 multiplies a Gamma(a + 1) variate by ``U^{1/a} ≤ 1``);
* a von Mises(0, κ) variate ε by π, its scores by κ (s_μ = κ sin ε) and 2 (s_κ = cos ε − A), and
  its implicit derivative by :data:`VONMISES_PATH_REACH`.

From the draws' reach, :func:`estimate_bound` bounds ``|f|`` and ``|f′|`` on it, and with the score
``∂ log q/∂θ`` and the path derivative ``∂x/∂θ`` bounds every estimator's single estimate
(score-function, pathwise, measure-valued, baselines and control variates alike, with a factor 4 for
their differences of two terms). The statistics keep sums of ``trials × P`` squared estimates, so a
run whose bound ``G`` has ``16·trials·P·G² ≥ 1.8e308`` could only print overflowed numbers (a NaN
table, or a false bias verdict): :func:`check_estimate_magnitude` refuses it up front, naming the
largest ``|g|`` the run's statistics hold.
"""

import math

import numpy as np
from scipy import special

from carms_cli.continuous.codes import ObjectiveCode
from carms_cli.core.errors import InputError

#: Largest magnitude of a standard normal (Box–Muller) or Maxwell variate the kernels can draw.
NORMAL_REACH = math.sqrt(4 * 54 * math.log(2))
#: Largest Exp(1) (or Gamma(2), a sum of two) variate the kernels can draw.
EXPONENTIAL_REACH = 2 * 54 * math.log(2)
#: |log x| of any positive float64 (the smallest subnormal is 2^-1074).
LOG_REACH = 1074 * math.log(2)
#: Bound of |∂ε/∂κ| for ε ~ vM(0, κ): the derivative is an integral over at most π of an integrand
#: below 2·e^{κ(1 − A(κ))} ≤ 2e^{0.6} (:mod:`carms_cli.continuous.kernels.vonmises`), so below 4π.
VONMISES_PATH_REACH = 4 * math.pi
#: Headroom of the statistics' sums (centring, Σ‖g − r‖²), as for the discrete family.
HEADROOM = 16.0
#: Estimators differ by at most this factor from one f·score or f′·∂x/∂θ term (baselines,
#: leave-one-out, f(x⁺) − f(x⁻), a control variate's subtracted copy).
TERMS = 4.0


def gamma_reach(shape: float) -> float:
    """Largest standard Gamma variate of shape ``shape`` (or ``shape + 1``, the measure-valued draws) drawn."""
    a = max(shape, 1.0) + 1.0
    d = a - 1.0 / 3.0
    return d * (1.0 + math.sqrt(2 * 54 * math.log(2)) / math.sqrt(9.0 * d)) ** 3


def _reach(problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coordinate: the largest |x| drawn, and bounds of the score and of ∂x/∂θ over the parameters."""
    values = problem.values
    if problem.distribution in ("beta", "dirichlet"):
        return _simplex_reach(problem)
    with np.errstate(over="ignore", divide="ignore"):
        if problem.distribution == "gaussian":
            mu, sigma = values["mu"], values["sigma"]
            x = np.abs(mu) + NORMAL_REACH * sigma
            scores = {"mu": NORMAL_REACH / sigma, "sigma": NORMAL_REACH**2 / sigma, "log-sigma": NORMAL_REACH**2}
            paths = {"mu": np.ones_like(mu), "sigma": np.full_like(mu, NORMAL_REACH), "log-sigma": NORMAL_REACH * sigma}
        elif problem.distribution == "vonmises":
            mu, kappa = values["mu"], values["kappa"]
            x = np.abs(mu) + math.pi
            scores = {"mu": kappa, "kappa": np.full_like(kappa, 2.0)}
            paths = {"mu": np.ones_like(mu), "kappa": np.full_like(kappa, VONMISES_PATH_REACH)}
        else:
            rate = values["rate"]
            shape = values.get("alpha", np.ones_like(rate))
            standard = np.array([gamma_reach(a) for a in shape]) if "alpha" in values else EXPONENTIAL_REACH
            x = standard / rate
            scores = {"rate": (shape + standard) / rate}
            paths = {"rate": standard / rate**2}
            if "alpha" in values:
                # α score log x̃ − ψ(α), |log x̃| ≤ LOG_REACH; ∂x/∂α = g(α, x̃)/β with the crude bound
                # |g| ≤ x̃·(LOG_REACH + |ψ(α)|)/α + x̃ (enough to rule out overflow, not a tight bound)
                digamma = np.abs(special.digamma(shape))
                scores["alpha"] = LOG_REACH + digamma
                paths["alpha"] = standard * ((LOG_REACH + digamma) / shape + 1.0) / rate
    score = np.max([scores[name] for name in problem.parameters], axis=0)
    path = np.max([paths[name] for name in problem.parameters], axis=0)
    return x, score, path


def _simplex_reach(problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per coordinate: the largest x (1), and bounds of the scores and of |∂x/∂θ| (also of |∂x/∂θ|/x).

    Every Gamma drawn is at most :func:`~carms_cli.continuous.magnitude.gamma_reach` and at least
    2⁻¹⁰⁵⁶ (shapes ≥ 0.06), so |ln x| ≤ LOG_REACH + ln ΣG. The gamma-ratio path is c_j(δ_ij − x_i)
    with |c_j| = |g(α_j, G_j)|/ΣG ≤ (LOG_REACH + |ψ(α_j)|)/α_j + 1 (the Gamma bound of
    :func:`_reach`), also a bound of |∂x_j/∂α_j|/x_j and of the CDF-implicit
    path (its conditional expectation); a Dirichlet estimate sums K such terms.
    """
    from carms_cli.continuous.simplex import kernel_parameters, score_offsets

    first, second = kernel_parameters(problem)
    shapes = problem.value("alpha") if problem.distribution == "dirichlet" else np.concatenate([first, second])
    top = (
        sum(gamma_reach(float(s)) for s in shapes)
        if problem.distribution == "dirichlet"
        else max(gamma_reach(float(a)) + gamma_reach(float(b)) for a, b in zip(first, second, strict=True))
    )
    offsets = np.abs(score_offsets(problem)).reshape(len(problem.parameters), problem.dims).max(axis=0)
    score = LOG_REACH + math.log(top) + offsets
    bound = (LOG_REACH + np.abs(special.digamma(shapes))) / shapes + 1.0
    path = float(np.max(bound)) * (problem.dims if problem.distribution == "dirichlet" else 1.0)
    return np.ones(problem.dims), score, np.full(problem.dims, path)


def _objective_bounds(objective, x: float, dims: int) -> tuple[float, float]:
    """Bounds of |f| and of every |∂f/∂x_d| for coordinates within ``|x_d| ≤ x``."""
    code, p = objective.code, objective.params
    with np.errstate(over="ignore", invalid="ignore"):
        if code == ObjectiveCode.SQUARE:
            value, slope = (x + abs(p[0])) ** 2, 2.0 * (x + abs(p[0]))
        elif code == ObjectiveCode.EXP:
            k = float(p[0])
            if k >= 0:
                value, slope = 1.0, math.sqrt(2.0 * k)
            else:
                value = float(np.exp(np.float64(-k) * x * x))
                slope = 2.0 * -k * x * value
        elif code in (ObjectiveCode.COS, ObjectiveCode.SIN, ObjectiveCode.COS_SUM):
            value, slope = 1.0, abs(float(p[0]))
        elif code == ObjectiveCode.POLY:
            powers = np.float64(x) ** np.arange(p.size)
            value = float(np.sum(np.abs(p) * powers))
            slope = float(np.sum(np.abs(p[1:]) * np.arange(1, p.size) * powers[:-1])) if p.size > 1 else 0.0
        elif code == ObjectiveCode.LOG:
            value, slope = max(LOG_REACH, abs(math.log(x))), 0.0  # f′·∂x/∂β = −1/β: see :func:`_log_path`
        elif code == ObjectiveCode.STEP:
            value, slope = 1.0, 0.0
        else:  # QUAD_FORM: (wᵀx)², ∂/∂x_d = 2 w_d (wᵀx)
            weights = np.abs(objective.kernel_params(dims))
            inner = float(np.sum(weights) * x)
            value, slope = inner * inner, 2.0 * float(np.max(weights)) * inner
    separable = code not in (ObjectiveCode.COS_SUM, ObjectiveCode.QUAD_FORM)
    return (dims * value if separable else value), slope


def estimate_bound(problem) -> tuple[float, float]:
    """Return a bound on any single estimate's |g| and the |f| bound it comes from."""
    x, score, path = _reach(problem)
    reach = float(np.max(x))
    value, slope = _objective_bounds(problem.objective, reach, problem.dims)
    if problem.objective.code == ObjectiveCode.LOG and problem.distribution in ("beta", "dirichlet"):
        path_term = float(np.max(path))  # (1/x)·|∂x/∂θ| is bounded as |∂x/∂θ| is (_simplex_reach)
    elif problem.objective.code == ObjectiveCode.LOG:  # f′(x)·∂x/∂β = (1/x)(−x/β) = −1/β
        path_term = float(np.max(1.0 / problem.values["rate"]))
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            path_term = float(np.max(slope * path))
    with np.errstate(over="ignore", invalid="ignore"):
        bound = TERMS * max(float(np.max(value * score)), path_term)
    return (bound if math.isfinite(bound) else math.inf), value


def largest_estimate(trials: int, size: int) -> float:
    """Return the largest |g| whose statistics (sums of ``trials × size`` squares) stay finite."""
    return math.sqrt(np.finfo(np.float64).max / (HEADROOM * trials * size))


def check_variance_exists(problem) -> None:
    """Refuse (InputError) ``exp:k`` with k < 0 where the estimators' variance is infinite, naming the limit.

    ``f = Σ exp(|k| x_d²)``: under N(μ, σ²), ``E[f² · polynomial] < ∞`` iff ``1 − 4|k|σ² > 0``, i.e.
    ``k > −1/(4σ²)``; the Exponential's and the Gamma's tails ``e^{−βx}`` never outweigh
    ``e^{2|k|x²}``. Sampling would print a finite-looking but meaningless variance, or a bias
    verdict against an infinite (NaN) gradient.
    """
    objective = problem.objective
    if objective.code != ObjectiveCode.EXP or objective.params[0] >= 0:
        return
    k = float(objective.params[0])
    if problem.distribution in ("beta", "dirichlet"):
        return  # x ∈ [0, 1]: f is bounded
    if problem.distribution != "gaussian":
        raise InputError(
            f"objective {objective.spec} grows like e^(|k|x²) faster than the {problem.distribution} density "
            "falls: its moments are infinite (no gradient, no variance); use k >= 0"
        )
    sigma = float(np.max(problem.values["sigma"]))
    limit = -1.0 / (4.0 * sigma * sigma)
    if not k > limit:
        raise InputError(
            f"objective {objective.spec} under sigma = {sigma:g}: E[f²] is infinite unless k > -1/(4 sigma²) "
            f"= {limit:.6g}, so no estimator has a variance; choose k > {limit:.6g} or a smaller --sigma"
        )


def check_estimate_magnitude(problem) -> None:
    """Refuse (InputError, exit 2) a run whose estimates could overflow its statistics, naming the limit.

    Also refuses an objective whose estimators have no finite variance (:func:`check_variance_exists`).
    """
    check_variance_exists(problem)
    bound, value = estimate_bound(problem)
    largest = largest_estimate(problem.trials, problem.size)
    if bound <= largest:
        return
    reached = "overflow float64" if not math.isfinite(bound) else f"reach |g| = {bound:.3g}"
    at = "overflows float64" if not math.isfinite(value) else f"up to {value:.3g}"
    raise InputError(
        f"the estimates can {reached} (|f| {at} over the draws' reach, {problem.describe()}, objective "
        f"{problem.objective.spec}): the statistics ({problem.trials:,} trials × {problem.size} coordinates) stay "
        f"finite only up to |g| = {largest:.3g}; scale the objective or the parameters down"
    )
