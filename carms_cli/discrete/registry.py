"""The one place an estimator is registered: name → EstimatorSpec.

The CLI, the exact oracle and the parametrised tests all read this mapping.
"""

import difflib

from carms_cli.core.errors import InputError
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.estimators.arsm import ARSM
from carms_cli.discrete.estimators.binary import BINARY
from carms_cli.discrete.estimators.carms import CARMS_G_REF, CARMS_REF, FAMILY
from carms_cli.discrete.estimators.relaxed import GUMBEL_SOFTMAX, GUMBEL_ST, parse_relaxed
from carms_cli.discrete.estimators.score import LOORF, REINFORCE
from carms_cli.discrete.estimators.unord import UNORD

#: Every estimator by name. The Gumbel relaxations are registered at τ = 1; ``gumbel-softmax:τ``
#: and ``gumbel-st:τ`` name them at any other temperature.
ESTIMATORS: dict[str, EstimatorSpec] = {
    spec.name: spec
    for spec in (REINFORCE, LOORF, *FAMILY, CARMS_REF, CARMS_G_REF, *BINARY, ARSM, UNORD, GUMBEL_SOFTMAX, GUMBEL_ST)
}

#: What ``carms variance`` runs without ``--estimators`` (``--estimators all`` runs everything).
DEFAULT_ESTIMATORS = ["reinforce", "loorf", "carms", "carms-gauss"]
#: The default at K = 2 (binary variables).
DEFAULT_BINARY_ESTIMATORS = ["reinforce", "loorf", "arm", "disarm", "arms", "arms-gauss"]


def applicable(spec: EstimatorSpec, categories: int, samples: int, dims: int = 1, objective=None) -> str | None:
    """Why ``spec`` cannot run at K categories, n samples and D variables on ``objective``.

    None if it can; the objective is checked only when given. The reason is the first among the
    spec's declared rules (``spec.requires``).
    """
    for requirement in spec.requires:
        reason = requirement.reason(spec, categories, samples, dims, objective)
        if reason:
            return reason
    return None


#: The estimator every variance ratio is taken against.
VARIANCE_REFERENCE = "loorf"


def get_estimator(name: str) -> EstimatorSpec:
    """Return the spec registered as ``name``; raise an InputError suggesting the closest name otherwise."""
    key = name.strip().lower()
    if key in ESTIMATORS:
        return ESTIMATORS[key]
    relaxed = parse_relaxed(key)
    if relaxed is not None:
        return relaxed
    close = difflib.get_close_matches(key, list(ESTIMATORS), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise InputError(f"unknown estimator '{name}'{hint} (known: {', '.join(ESTIMATORS)})")


def parse_estimators(
    text: str | None, categories: int = 10, samples: int = 4, dims: int = 1, objective=None
) -> list[EstimatorSpec]:
    """Parse a comma-separated list of estimator names into their specs, in the given order.

    None means the default set (:data:`DEFAULT_ESTIMATORS`, or :data:`DEFAULT_BINARY_ESTIMATORS`
    at K = 2), ``all`` every registered estimator that can run at K categories, n samples and D
    variables (on ``objective``, when given). A named estimator that cannot run is an InputError.
    """

    def runs(spec):
        return applicable(spec, categories, samples, dims, objective) is None

    if text is None:
        names = DEFAULT_BINARY_ESTIMATORS if categories == 2 else DEFAULT_ESTIMATORS
        return [ESTIMATORS[name] for name in names if runs(ESTIMATORS[name])]
    if text.strip().lower() == "all":
        return [spec for spec in ESTIMATORS.values() if runs(spec)]
    names = [name for name in (part.strip() for part in text.split(",")) if name]
    if not names:
        raise InputError("--estimators is empty")
    specs = []
    for name in names:
        spec = get_estimator(name)
        reason = applicable(spec, categories, samples, dims, objective)
        if reason:
            raise InputError(reason)
        if spec not in specs:
            specs.append(spec)
    return specs
