"""The one place an estimator is registered: name → EstimatorSpec.

The CLI, the exact oracle and the parametrised tests all read this mapping.
"""

import difflib

from carms_cli.errors import InputError
from carms_cli.estimators import EstimatorSpec
from carms_cli.estimators.binary import BINARY
from carms_cli.estimators.carms import CARMS_G_REF, CARMS_REF, FAMILY
from carms_cli.estimators.score import LOORF, REINFORCE
from carms_cli.samplers import Construction

ESTIMATORS: dict[str, EstimatorSpec] = {
    spec.name: spec for spec in (REINFORCE, LOORF, *FAMILY, CARMS_REF, CARMS_G_REF, *BINARY)
}

#: What ``carms variance`` runs without ``--estimators`` (``--estimators all`` runs everything).
DEFAULT_ESTIMATORS = ["reinforce", "loorf", "carms", "carms-gauss"]
#: The default at K = 2 (binary variables).
DEFAULT_BINARY_ESTIMATORS = ["reinforce", "loorf", "arm", "disarm", "arms", "arms-gauss"]


def applicable(spec: EstimatorSpec, categories: int, samples: int) -> str | None:
    """Why ``spec`` cannot run at K categories and n samples (None if it can)."""
    if spec.binary_only and categories != 2:
        return f"estimator '{spec.name}' is binary: use --categories 2 (or --binary), got K={categories}"
    if spec.sampler.construction == Construction.PAIRS and samples % 2:
        return f"estimator '{spec.name}' uses n/2 antithetic pairs: --samples must be even, got {samples}"
    return None


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


def parse_estimators(text: str | None, categories: int = 10, samples: int = 4) -> list[EstimatorSpec]:
    """A comma-separated list of names in the given order; None means the default set
    (:data:`DEFAULT_ESTIMATORS`, or :data:`DEFAULT_BINARY_ESTIMATORS` at K = 2), ``all`` every
    registered estimator that can run at K categories and n samples. A named estimator that
    cannot run is an InputError."""
    if text is None:
        names = DEFAULT_BINARY_ESTIMATORS if categories == 2 else DEFAULT_ESTIMATORS
        return [ESTIMATORS[name] for name in names if applicable(ESTIMATORS[name], categories, samples) is None]
    if text.strip().lower() == "all":
        return [spec for spec in ESTIMATORS.values() if applicable(spec, categories, samples) is None]
    names = [name for name in (part.strip() for part in text.split(",")) if name]
    if not names:
        raise InputError("--estimators is empty")
    specs = []
    for name in names:
        spec = get_estimator(name)
        reason = applicable(spec, categories, samples)
        if reason:
            raise InputError(reason)
        if spec not in specs:
            specs.append(spec)
    return specs
