"""The one place an estimator is registered: name → EstimatorSpec.

The CLI, the exact oracle and the parametrised tests all read this mapping.
"""

import difflib

from carms_cli.errors import InputError
from carms_cli.estimators import EstimatorSpec
from carms_cli.estimators.carms import CARMS_G_REF, CARMS_REF, FAMILY
from carms_cli.estimators.score import LOORF, REINFORCE

ESTIMATORS: dict[str, EstimatorSpec] = {
    spec.name: spec for spec in (REINFORCE, LOORF, *FAMILY, CARMS_REF, CARMS_G_REF)
}

#: What ``carms variance`` runs without ``--estimators`` (``--estimators all`` runs everything).
DEFAULT_ESTIMATORS = ["reinforce", "loorf", "carms", "carms-gauss"]

#: The estimator every variance ratio is taken against.
VARIANCE_REFERENCE = "loorf"


def get_estimator(name: str) -> EstimatorSpec:
    """The spec registered as ``name``; an InputError suggesting the closest name otherwise."""
    key = name.strip().lower()
    if key in ESTIMATORS:
        return ESTIMATORS[key]
    close = difflib.get_close_matches(key, list(ESTIMATORS), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise InputError(f"unknown estimator '{name}'{hint} (known: {', '.join(ESTIMATORS)})")


def parse_estimators(text: str | None) -> list[EstimatorSpec]:
    """A comma-separated list of names in the given order; None means :data:`DEFAULT_ESTIMATORS`,
    ``all`` every registered estimator."""
    if text is None:
        return [ESTIMATORS[name] for name in DEFAULT_ESTIMATORS]
    if text.strip().lower() == "all":
        return list(ESTIMATORS.values())
    names = [name for name in (part.strip() for part in text.split(",")) if name]
    if not names:
        raise InputError("--estimators is empty")
    specs = []
    for name in names:
        spec = get_estimator(name)
        if spec not in specs:
            specs.append(spec)
    return specs
