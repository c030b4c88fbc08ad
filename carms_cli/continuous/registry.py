"""The continuous family's estimators: one spec each, and the rules that say where it applies.

Per-sample terms for ∂/∂θ (averaged over the n samples of an estimate; ε ~ N(0, 1),
x = μ + σε for the Gaussian; s(x) = ∂ log q(x|θ)/∂θ the score):

* ``pathwise`` — f′(x)·∂x/∂θ: Gaussian ∂x/∂μ = 1, ∂x/∂σ = ε; rate β ∂x/∂β = −x/β; von Mises
  location ∂x/∂μ = 1 (x = μ + ε);
* ``implicit`` — f′(x)·∂x/∂θ with the implicit derivative ∂x/∂θ = −(∂F(x|θ)/∂θ)/q(x|θ), for
  parameters without an explicit reparameterization: Gamma shape ∂x/∂α = g(α, βx)/β
  (:mod:`carms_cli.continuous.kernels.implicit`); von Mises concentration ∂x/∂κ
  (:mod:`carms_cli.continuous.kernels.vonmises`; with ∂x/∂μ = 1 for ``--param all``); Beta
  ∂x/∂a = −∂_a I_x(a, b)/q(x) (and b), a Dirichlet coordinate through its marginal
  Beta(α_i, α₀ − α_i) (:mod:`carms_cli.continuous.kernels.beta`);
* ``implicit-gamma-ratio`` — Beta and Dirichlet: the same f′(x)·∂x/∂θ, but through x = G/ΣG,
  ∂x_i/∂α_j = g(α_j, G_j)(δ_ij − x_i)/ΣG. It is a function of the Gammas, the CDF-implicit one of x
  only and equal to its conditional expectation given x: same mean, larger variance;
* ``score`` — f(x)·s(x): Gaussian s_μ = ε/σ, s_σ = (ε² − 1)/σ; rate s_β = α/β − x; Gamma shape
  s_α = log(βx) − ψ(α); von Mises s_μ = κ sin ε, s_κ = cos ε − I₁(κ)/I₀(κ) (ε = x − μ); Beta
  s_a = ln x − ψ(a) + ψ(a + b), s_b = ln(1 − x) − ψ(b) + ψ(a + b); Dirichlet
  s_j = ln x_j − ψ(α_j) + ψ(α₀);
* ``score-baseline`` — (f(x) − b)·s(x) with the optimal constant baseline per coordinate,
  b = E[f s²]/E[s²], computed exactly by quadrature: an oracle (as in the survey's figures), to
  show how far any constant baseline can take the score function;
* ``score-loo`` — (f(x_i) − mean_{j≠i} f(x_j))·s(x_i), the continuous LOORF (n ≥ 2);
* ``score-delta`` / ``pathwise-delta`` — the same as score / pathwise for f − β·h plus β·∇E[h],
  with h the second-order Taylor expansion of f at μ (the delta method) and the coefficient β
  per coordinate the least-squares slope over n *fresh* samples (so the estimate stays
  unbiased);
* ``mvd`` — c·[f(x⁺) − f(x⁻)] per parameter coordinate, x⁺ and x⁻ differing from one shared
  draw in that coordinate only: μ: c = 1/(σ√(2π)), x± = μ ± σW, W ~ Rayleigh; σ: c = 1/σ,
  x⁺ = μ + σM with M double-sided Maxwell, x⁻ = μ + σMU, U ~ U(0, 1) (so MU ~ N(0, 1)); rate:
  c = α/β, x⁺ ~ Gamma(α, β), x⁻ = x⁺ + E, E ~ Exp(β) (so x⁻ ~ Gamma(α + 1, β));
* ``mvd-uncoupled`` — the same with independent draws for x⁺ and x⁻.

Evaluations of f or f′ are counted alike: n for pathwise and score, 2n for the delta control
variates (the fresh samples), and 2 per sample per reported coordinate for MVD.
"""

from dataclasses import dataclass

from carms_cli.continuous.codes import EstimatorCode, ObjectiveCode
from carms_cli.continuous.problem import ContinuousProblem
from carms_cli.core.errors import InputError


@dataclass(frozen=True)
class ContinuousSpec:
    """One estimator: its name, kernel code, one-line summary, and where it applies."""

    name: str
    code: EstimatorCode
    summary: str
    #: distributions it applies to
    distributions: tuple[str, ...]
    #: it needs the objective's derivative
    needs_derivative: bool = False
    #: it needs f's second-order Taylor expansion (the delta method)
    needs_taylor: bool = False
    #: it needs the exact optimal constant baseline (computable for separable objectives)
    needs_baseline: bool = False
    #: least samples per estimate
    min_samples: int = 1
    #: random stream id (distinct per estimator, so no two share draws)
    stream: int = 0
    #: the reported parameters it applies to
    parameters: tuple[str, ...] = ()
    #: what to use instead where it does not apply (appended to the refusal)
    otherwise: str = ""


ALL = ("gaussian", "exponential", "gamma")
#: Distributions of the score-function estimators (and pathwise): ALL and the von Mises.
CIRCULAR = (*ALL, "vonmises")
#: Beta and Dirichlet (ratios of Gamma variates; :mod:`carms_cli.continuous.simplex`).
SIMPLEX = ("beta", "dirichlet")
#: The Gaussian's parameters.
GAUSSIAN = ("mu", "sigma", "log-sigma")
#: Parameters with an explicit reparameterization (x = μ + σε, x = x̃/β) or a measure-valued derivative here.
EXPLICIT = (*GAUSSIAN, "rate")
#: Every reportable parameter.
EVERY = (*EXPLICIT, "alpha", "kappa", "a", "b")

ESTIMATORS = {
    spec.name: spec
    for spec in (
        ContinuousSpec(
            "pathwise",
            EstimatorCode.PATHWISE,
            "reparameterization: f′(x)·∂x/∂θ",
            CIRCULAR,
            needs_derivative=True,
            stream=101,
            parameters=EXPLICIT,
            otherwise="the Gamma shape and the von Mises κ have no explicit reparameterization: use implicit",
        ),
        ContinuousSpec(
            "implicit",
            EstimatorCode.IMPLICIT,
            "implicit reparameterization: f′(x)·∂x/∂θ, ∂x/∂θ = −(∂F/∂θ)/q",
            ("gamma", "vonmises", *SIMPLEX),
            needs_derivative=True,
            stream=109,
            parameters=("alpha", "kappa", "mu", "a", "b"),
            otherwise="the Gaussian's μ, σ and the rate are reparameterized explicitly: use pathwise",
        ),
        ContinuousSpec(
            "implicit-gamma-ratio",
            EstimatorCode.IMPLICIT_GAMMA_RATIO,
            "implicit through the Gammas x = G/ΣG: f′(x)·∂x/∂θ, ∂G/∂α the Gamma's implicit derivative",
            SIMPLEX,
            needs_derivative=True,
            stream=110,
            parameters=("alpha", "a", "b"),
            otherwise="only Beta and Dirichlet variates are ratios of Gammas here",
        ),
        ContinuousSpec(
            "score",
            EstimatorCode.SCORE,
            "score function (REINFORCE): f(x)·∂log q/∂θ",
            (*CIRCULAR, *SIMPLEX),
            stream=102,
            parameters=EVERY,
        ),
        ContinuousSpec(
            "score-baseline",
            EstimatorCode.SCORE_BASELINE,
            "score function, optimal constant baseline E[f s²]/E[s²] (exact: an oracle)",
            (*CIRCULAR, *SIMPLEX),
            needs_baseline=True,
            stream=108,
            parameters=EVERY,
        ),
        ContinuousSpec(
            "score-loo",
            EstimatorCode.SCORE_LOO,
            "score function, leave-one-out baseline (continuous LOORF)",
            (*CIRCULAR, *SIMPLEX),
            min_samples=2,
            stream=103,
            parameters=EVERY,
        ),
        ContinuousSpec(
            "score-delta",
            EstimatorCode.SCORE_DELTA,
            "score function, delta-method control variate (β from n fresh samples)",
            ("gaussian",),
            needs_derivative=True,
            needs_taylor=True,
            min_samples=2,
            stream=104,
            parameters=GAUSSIAN,
        ),
        ContinuousSpec(
            "pathwise-delta",
            EstimatorCode.PATHWISE_DELTA,
            "pathwise, delta-method control variate (β from n fresh samples)",
            ("gaussian",),
            needs_derivative=True,
            needs_taylor=True,
            min_samples=2,
            stream=105,
            parameters=GAUSSIAN,
        ),
        ContinuousSpec(
            "mvd",
            EstimatorCode.MVD,
            "measure-valued derivative, coupled x⁺ and x⁻",
            ALL,
            stream=106,
            parameters=EXPLICIT,
            otherwise="no measure-valued derivative of the Gamma shape here: use implicit or score",
        ),
        ContinuousSpec(
            "mvd-uncoupled",
            EstimatorCode.MVD_UNCOUPLED,
            "measure-valued derivative, independent x⁺ and x⁻",
            ALL,
            stream=107,
            parameters=EXPLICIT,
            otherwise="no measure-valued derivative of the Gamma shape here: use implicit or score",
        ),
    )
}

#: What ``carms continuous`` runs without ``--estimators``.
DEFAULT_ESTIMATORS = ("pathwise", "implicit", "implicit-gamma-ratio", "score", "score-loo", "mvd")
#: The estimator variance ratios are taken against.
REFERENCE = "score"


def refusal(spec: ContinuousSpec, problem: ContinuousProblem) -> str | None:
    """Why ``spec`` does not apply to ``problem`` (None: it applies)."""
    hint = f" ({spec.otherwise})" if spec.otherwise else ""
    if problem.distribution not in spec.distributions:
        return f"{spec.name} applies to --dist {', '.join(spec.distributions)} only, not {problem.distribution}{hint}"
    wrong = [name for name in problem.parameters if name not in spec.parameters]
    if wrong:
        return f"{spec.name} does not apply to --param {wrong[0]}{hint}"
    if spec.needs_derivative and not problem.objective.differentiable:
        return (
            f"{spec.name} needs f′ but objective '{problem.objective.spec}' has no derivative: "
            "use score, score-loo or mvd"
        )
    if spec.needs_baseline and not problem.objective.separable:
        return (f"{spec.name} needs the optimal baseline E[f s²]/E[s²] by 1-D quadrature, which objective "
                f"'{problem.objective.spec}' (not separable) does not allow")
    if spec.needs_baseline and problem.objective.code == ObjectiveCode.EXP and problem.objective.params[0] < 0:
        return (f"{spec.name} needs the optimal baseline E[f s²]/E[s²] by quadrature, which objective "
                f"'{problem.objective.spec}' (growing like e^(|k|x²)) does not allow")
    if problem.samples < spec.min_samples:
        return f"{spec.name} needs -n {spec.min_samples} or more (got -n {problem.samples})"
    return None


def applicable(name: str, problem: ContinuousProblem) -> ContinuousSpec | str:
    """Return the spec named ``name`` if it applies to ``problem``, otherwise the one-line reason why not."""
    spec = ESTIMATORS.get(name)
    if spec is None:
        return f"unknown estimator '{name}'"
    reason = refusal(spec, problem)
    return spec if reason is None else reason


def parse_estimators(text: str | None, problem: ContinuousProblem) -> list[ContinuousSpec]:
    """Resolve ``--estimators`` (comma-separated names or ``all``) for ``problem``.

    ``all`` takes every estimator that applies; a named one that does not apply is refused with
    the reason.
    """
    if text is None:
        names = [name for name in DEFAULT_ESTIMATORS if refusal(ESTIMATORS[name], problem) is None]
    elif text.strip().lower() == "all":
        names = [name for name, spec in ESTIMATORS.items() if refusal(spec, problem) is None]
    else:
        names = [item.strip().lower() for item in text.split(",") if item.strip()]
        if not names:
            raise InputError("--estimators is empty")
    specs = []
    for name in names:
        if name not in ESTIMATORS:
            raise InputError(f"unknown estimator '{name}' for carms continuous (known: {', '.join(ESTIMATORS)})")
        reason = refusal(ESTIMATORS[name], problem)
        if reason is not None:
            raise InputError(reason)
        if name in (spec.name for spec in specs):
            raise InputError(f"estimator '{name}' is listed twice")
        specs.append(ESTIMATORS[name])
    if not specs:
        raise InputError("no estimator applies to this problem")
    return specs


def evaluations_per_estimate(spec: ContinuousSpec, problem: ContinuousProblem) -> int:
    """Return the evaluations of f or f′ in one estimate (see the module docstring)."""
    n = problem.samples
    if spec.code in (EstimatorCode.MVD, EstimatorCode.MVD_UNCOUPLED):
        return 2 * n * problem.size
    if spec.needs_taylor:
        return 2 * n
    return n
