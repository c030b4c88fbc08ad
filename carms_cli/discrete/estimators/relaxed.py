"""Gumbel-softmax and straight-through Gumbel (Jang et al. 2017; Maddison et al. 2017; spec 11).

Per sample and variable draw ``G_c = −log(−log U_c)``, set ``y = softmax((log p + G)/τ)`` and the
hard sample ``z = argmax(log p + G)`` (so z ~ p). Both need a differentiable extension of f to
the simplex; carms-cli uses the multilinear one of its tables,
``f(y) = Σ_d u_dᵀ y_d + Σ_{d<e} y_dᵀ B_{de} y_e`` (unary tables extend linearly, pairwise
interactions bilinearly), which equals f on one-hot vectors. Objectives given as a full K^D
table define no such extension and are refused.

* ``gumbel-softmax:τ``: ``g_d = (1/(nτ)) Σ_i (diag(y_{i,d}) − y_{i,d} y_{i,d}ᵀ) ∇_{y_d} f(y_i)``;
* ``gumbel-st:τ``: the same Jacobian, with ∇f evaluated at the hard one-hot vectors.

Biased for every τ > 0 (by design): the bias shrinks as τ → 0 while the variance grows.
"""

from carms_cli.core.errors import InputError
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.estimators.requirements import NEEDS_RELAXATION
from carms_cli.discrete.sampling.samplers import GUMBEL_NOISE

KINDS = {
    "gumbel-softmax": (Weighting.GUMBEL_SOFTMAX, "Gumbel-softmax, relaxed forward and backward"),
    "gumbel-st": (Weighting.STRAIGHT_THROUGH, "straight-through Gumbel: hard forward, relaxed backward"),
}
DEFAULT_TEMPERATURE = 1.0


def format_temperature(temperature: float) -> str:
    """Format the temperature τ as it appears in a spec name (``:g``, e.g. ``0.5``)."""
    return f"{temperature:g}"


def relaxed_spec(kind: str, temperature: float = DEFAULT_TEMPERATURE) -> EstimatorSpec:
    """Return the spec ``kind:τ`` (kind one of :data:`KINDS`); raise InputError unless 0 < τ < ∞."""
    if not (temperature > 0 and temperature < float("inf")):
        raise InputError(f"estimator '{kind}': the temperature must be a positive number, got {temperature:g}")
    weighting, words = KINDS[kind]
    return EstimatorSpec(
        name=f"{kind}:{format_temperature(temperature)}",
        summary=f"{words}, temperature {format_temperature(temperature)}: biased by design",
        sampler=GUMBEL_NOISE,
        weighting=weighting,
        unbiased_by_design=False,
        reference="Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017",
        temperature=float(temperature),
        requires=(NEEDS_RELAXATION,),
    )


def parse_relaxed(name: str) -> EstimatorSpec | None:
    """``gumbel-softmax[:τ]`` / ``gumbel-st[:τ]`` → spec; None for any other name."""
    kind, _, value = name.partition(":")
    if kind not in KINDS:
        return None
    if not value:
        return relaxed_spec(kind)
    try:
        temperature = float(value)
    except ValueError:
        raise InputError(f"estimator '{name}': the temperature '{value}' is not a number") from None
    return relaxed_spec(kind, temperature)


GUMBEL_SOFTMAX = relaxed_spec("gumbel-softmax")
GUMBEL_ST = relaxed_spec("gumbel-st")
