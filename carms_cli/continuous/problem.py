"""The continuous Problem: distribution, its parameters per coordinate, what is differentiated, f, n.

x has D independent coordinates, ``x_d ~ q(·|θ_d)``:

* ``gaussian`` — N(μ_d, σ_d²); reported parameters ``mu``, ``sigma``, ``log-sigma`` (σ·∂/∂σ) or
  ``all`` (μ then σ);
* ``exponential`` — Exp(λ_d) with rate λ (density λe^{−λx}); reported parameter ``rate``;
* ``gamma`` — Gamma(α_d, β_d) with shape α and rate β (density β^α x^{α−1} e^{−βx}/Γ(α));
  reported parameter ``rate`` (β) or ``alpha`` (α, also accepted as ``shape``; it has no explicit
  reparameterization: its pathwise estimator is ``implicit``). The α gradient needs
  α ≥ :data:`MIN_SHAPE_ALPHA`, where no float64 Gamma variate underflows;
* ``vonmises`` — von Mises(μ_d, κ_d) on the circle, location μ and concentration κ > 0 (density
  e^{κ cos(x − μ)}/(2π I₀(κ))), drawn as x = μ + ε with ε ~ vM(0, κ) in [−π, π]; reported
  parameter ``kappa`` (its pathwise estimator is ``implicit``), ``mu`` (x = μ + ε: pathwise) or
  ``all`` (μ then κ). Since x is an angle, the objective must be 2π-periodic in every coordinate
  (:attr:`~carms_cli.continuous.objectives.Objective.periodic`: cos:k, sin:k, cos-sum:k, k an integer);
* ``beta`` — Beta(a_d, b_d) (density x^{a−1}(1 − x)^{b−1}/B(a, b)); reported parameter ``a``, ``b`` or
  ``all`` (a then b; also ``both``);
* ``dirichlet`` — one Dirichlet(α₁ … α_K) over the K = D coordinates (``--alpha`` the concentration
  vector, K ≥ 2); reported parameter ``alpha`` (all K concentrations).

Beta and Dirichlet variates are ratios of Gamma variates, so their shapes need ≥ :data:`MIN_SHAPE_ALPHA`
too, and take the separable objectives only (:mod:`carms_cli.continuous.simplex`).

The reported coordinates are flattened parameter by parameter: ``mu[0] … mu[D−1], sigma[0] …``.
"""

from dataclasses import dataclass

import numpy as np

from carms_cli.continuous.codes import DistributionCode, ParameterCode
from carms_cli.continuous.objectives import Objective, build_objective
from carms_cli.core.errors import InputError

MAX_SAMPLES = 64
MAX_DIMS = 64
MAX_TRIALS = 1 << 40
#: Least Gamma shape whose gradient is reported. For α < 1 the sampler returns x = x'·U^{1/α} with
#: U ≥ 2⁻⁵⁴ and an accepted Marsaglia–Tsang x' > 2⁻¹⁵⁶, so x > 2⁻⁹⁰⁰·2⁻¹⁵⁶ = 2⁻¹⁰⁵⁶ > 0 here: log x
#: and the α score are always finite (below it x can underflow to 0).
MIN_SHAPE_ALPHA = 0.06
#: Largest von Mises concentration κ: the range over which the sampler, the compiled ∂x/∂κ and the
#: exact moments are checked (tests/test_continuous_vonmises.py).
MAX_KAPPA = 1e6

#: Distribution → its parameters (command-line names) and the gradients it can report.
DISTRIBUTIONS = {
    "gaussian": (("mu", "sigma"), ("mu", "sigma", "log-sigma", "all")),
    "exponential": (("rate",), ("rate",)),
    "gamma": (("alpha", "rate"), ("rate", "alpha")),
    "vonmises": (("mu", "kappa"), ("kappa", "mu", "all")),
    "beta": (("a", "b"), ("a", "b", "all")),
    "dirichlet": (("alpha",), ("alpha",)),
}
#: What ``--param all`` reports, per distribution that has it.
ALL_PARAMETERS = {"gaussian": ("mu", "sigma"), "vonmises": ("mu", "kappa"), "beta": ("a", "b")}
#: Other names accepted by ``--param``.
PARAMETER_ALIASES = {"gamma": {"shape": "alpha"}, "beta": {"both": "all"}}
DEFAULT_PARAMETER = {
    "gaussian": "all",
    "exponential": "rate",
    "gamma": "rate",
    "vonmises": "kappa",
    "beta": "all",
    "dirichlet": "alpha",
}
_PARAMETER_CODES = {
    "mu": ParameterCode.MU,
    "sigma": ParameterCode.SIGMA,
    "log-sigma": ParameterCode.LOG_SIGMA,
    "rate": ParameterCode.RATE,
    "alpha": ParameterCode.SHAPE,
    "kappa": ParameterCode.KAPPA,
    "a": ParameterCode.BETA_A,
    "b": ParameterCode.BETA_B,
}
_DEFAULT_VALUES = {"mu": 1.0, "sigma": 1.0, "rate": 1.0, "alpha": 2.0, "kappa": 2.0, "a": 2.0, "b": 2.0}

#: Config entries that state a continuous problem (``compare`` refuses runs that differ in one).
PROBLEM_KEYS = ("distribution", "parameters", "values", "objective", "samples", "dims")


@dataclass(frozen=True, eq=False)
class ContinuousProblem:
    """D independent coordinates of one distribution, the reported gradients, f, n, trials and seed.

    Attributes
    ----------
    distribution : str
        ``gaussian``, ``exponential``, ``gamma``, ``vonmises``, ``beta`` or ``dirichlet``.
    values : dict of str to np.ndarray
        The distribution's parameters per coordinate (each shape (D,)), e.g. ``{"mu", "sigma"}``.
    parameters : tuple of str
        The reported gradients in order (``("mu", "sigma")`` for ``--param all``).
    """

    distribution: str
    values: dict
    parameters: tuple
    objective: Objective
    samples: int
    dims: int
    trials: int
    seed: int

    @property
    def code(self) -> DistributionCode:
        """The distribution's kernel code."""
        return DistributionCode[self.distribution.upper()]

    @property
    def parameter_codes(self) -> tuple[ParameterCode, ...]:
        """Kernel codes of the reported parameters, in order."""
        return tuple(_PARAMETER_CODES[name] for name in self.parameters)

    @property
    def size(self) -> int:
        """Number of reported coordinates P = (number of parameters)·D."""
        return len(self.parameters) * self.dims

    def coordinate_names(self) -> list[str]:
        """Names of the reported coordinates in order: ``mu[0]``, …, ``sigma[D−1]``."""
        return [f"{name}[{d}]" for name in self.parameters for d in range(self.dims)]

    def value(self, name: str) -> np.ndarray:
        """Return the parameter ``name`` per coordinate (shape (D,))."""
        return self.values[name]

    def describe(self) -> str:
        """One line stating the distribution and its parameters."""
        shown = ", ".join(f"{name} = {_numbers_text(values)}" for name, values in self.values.items())
        return f"{self.distribution}({shown})"


def _numbers_text(values: np.ndarray) -> str:
    if np.all(values == values[0]):
        return f"{values[0]:g}"
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def parse_values(text: str | None, option: str) -> np.ndarray | None:
    """Comma-separated finite numbers (one per coordinate, or one for all); None when not given."""
    if text is None:
        return None
    try:
        values = np.array([float(item) for item in text.replace(" ", "").split(",")], dtype=float)
    except ValueError:
        raise InputError(f"{option} must be comma-separated numbers, got '{text}'") from None
    if not np.all(np.isfinite(values)):
        raise InputError(f"{option} must be finite, got '{text}'")
    return values


def default_trials(samples: int, dims: int) -> int:
    """Default trials: ``max(10^4, 4·10^6/(n·D))``, as for the discrete family."""
    return max(10_000, 4_000_000 // (samples * dims))


def build_problem(
    distribution: str,
    given: dict,
    parameter: str | None,
    objective: str,
    samples: int,
    dims: int | None,
    trials: int | None,
    seed: int,
) -> ContinuousProblem:
    """Validate the command line's values into a :class:`ContinuousProblem`.

    ``given`` maps parameter names (``mu``, ``sigma``, ``rate``, ``alpha``, ``kappa``) to their text
    (None: not given). Values given for another distribution, σ, λ, α, β or κ ≤ 0, a D that disagrees with
    a list's length, an objective that does not fit the distribution and values whose estimates
    could overflow the statistics (:mod:`carms_cli.continuous.magnitude`) are refused.
    """
    distribution = distribution.lower()
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"unknown distribution '{distribution}' (known: {', '.join(DISTRIBUTIONS)})")
    names, reportable = DISTRIBUTIONS[distribution]
    for name, text in given.items():
        if text is not None and name not in names:
            raise InputError(
                f"--{name} does not apply to --dist {distribution} (its parameters: "
                + ", ".join(f"--{n}" for n in names)
                + ")"
            )
    parsed = {name: parse_values(given.get(name), f"--{name}") for name in names}
    lengths = {values.size for values in parsed.values() if values is not None and values.size > 1}
    if len(lengths) > 1:
        raise InputError(f"parameter lists have different lengths {sorted(lengths)}: give one value or D values each")
    if dims is None:
        dims = lengths.pop() if lengths else 1
    if not 1 <= dims <= MAX_DIMS:
        raise InputError(f"--dims must be in 1..{MAX_DIMS}, got {dims}")
    values = {}
    for name in names:
        array = parsed[name] if parsed[name] is not None else np.array([_DEFAULT_VALUES[name]])
        if array.size not in (1, dims):
            raise InputError(f"--{name} has {array.size} values but D = {dims}: give one value or D values")
        array = np.ascontiguousarray(np.broadcast_to(array, (dims,)), dtype=float)
        if name != "mu" and not np.all(array > 0):
            raise InputError(f"--{name} must be positive, got {_numbers_text(array)}")
        array.setflags(write=False)
        values[name] = array
    if distribution == "vonmises" and not np.all(values["kappa"] <= MAX_KAPPA):
        raise InputError(f"--kappa must be at most {MAX_KAPPA:g}, got {_numbers_text(values['kappa'])}")
    parameter = (parameter or DEFAULT_PARAMETER[distribution]).lower()
    parameter = PARAMETER_ALIASES.get(distribution, {}).get(parameter, parameter)
    if parameter not in reportable:
        raise InputError(
            f"--param {parameter} does not apply to --dist {distribution} (choose from " + ", ".join(reportable) + ")"
        )
    parameters = ALL_PARAMETERS[distribution] if parameter == "all" else (parameter,)
    if parameter == "alpha" and not np.all(values["alpha"] >= MIN_SHAPE_ALPHA):
        raise InputError(
            f"--param alpha needs --alpha ≥ {MIN_SHAPE_ALPHA:g} (below it a float64 Gamma variate can underflow "
            f"to 0, where log x and the α score are −∞), got {_numbers_text(values['alpha'])}"
        )
    if distribution in ("beta", "dirichlet"):
        from carms_cli.continuous.simplex import check_simplex_values

        check_simplex_values(distribution, values, MIN_SHAPE_ALPHA)
    if not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"--samples must be in 1..{MAX_SAMPLES}, got {samples}")
    if trials is None:
        trials = default_trials(samples, dims)
    if not 2 <= trials <= MAX_TRIALS:
        raise InputError(f"--trials must be in 2..{MAX_TRIALS}, got {trials}")
    built = build_objective(objective, dims)
    if built.positive_only and distribution == "gaussian":
        raise InputError(f"objective '{built.spec}' needs x > 0: use --dist exponential or gamma")
    if distribution == "vonmises" and not built.periodic:
        raise InputError(
            f"objective '{built.spec}' is not 2π-periodic, but a von Mises x is an angle (defined modulo 2π): "
            "use cos:k, sin:k or cos-sum:k with an integer k"
        )
    if distribution in ("beta", "dirichlet"):
        from carms_cli.continuous.simplex import check_simplex_objective

        check_simplex_objective(distribution, built)
    problem = ContinuousProblem(distribution, values, parameters, built, samples, dims, trials, seed)
    from carms_cli.continuous.magnitude import check_estimate_magnitude

    check_estimate_magnitude(problem)  # overflow refused before any sampling (issue 19)
    return problem
