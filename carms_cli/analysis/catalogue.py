"""``carms list``'s record: every registered estimator, objective and copula, of both families.

:func:`catalogue` returns a frozen :class:`Catalogue`; :meth:`Catalogue.to_dict` is the
``carms-cli/list/1`` JSON layout.
"""

from dataclasses import asdict, dataclass

from carms_cli.continuous import registry as continuous_registry
from carms_cli.continuous.objectives import OBJECTIVE_HELP as CONTINUOUS_OBJECTIVE_HELP
from carms_cli.discrete.objectives import OBJECTIVE_HELP
from carms_cli.discrete.registry import DEFAULT_ESTIMATORS, ESTIMATORS

SCHEMA = "carms-cli/list/1"

COPULA_HELP = {
    "independent": "n iid uniforms (no coupling)",
    "dirichlet": "U_i = (1 − D_i)^(n−1), D ~ Dirichlet(1_n): exclusive lower tail, pair correlation −0.47 at n = 3",
    "gaussian": "U_i = Φ(Z_i), Z ~ N(0, Σ) with correlation −1/(n−1) (sum zero)",
}


@dataclass(frozen=True)
class EstimatorEntry:
    """One registered estimator."""

    name: str
    summary: str
    sampler: str
    construction: str
    copula: str
    unbiased_by_design: bool
    #: in the default set of ``carms variance``
    default: bool
    reference: str


@dataclass(frozen=True)
class NamedSummary:
    """A name and one line about it (objectives, copulas)."""

    name: str
    summary: str


@dataclass(frozen=True)
class ContinuousEntry:
    """One estimator of the continuous family (``carms continuous``)."""

    name: str
    summary: str
    distributions: tuple[str, ...]
    #: the ``--param`` values it applies to
    parameters: tuple[str, ...]
    #: least samples per estimate
    min_samples: int
    #: in the default set of ``carms continuous``
    default: bool


@dataclass(frozen=True)
class Catalogue:
    """The registry as a record."""

    estimators: tuple[EstimatorEntry, ...]
    objectives: tuple[NamedSummary, ...]
    copulas: tuple[NamedSummary, ...]
    continuous_estimators: tuple[ContinuousEntry, ...] = ()
    continuous_objectives: tuple[NamedSummary, ...] = ()
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        """Return the ``carms-cli/list/1`` JSON layout."""
        return {
            "schema": self.schema,
            "estimators": [asdict(entry) for entry in self.estimators],
            "objectives": [asdict(entry) for entry in self.objectives],
            "copulas": [asdict(entry) for entry in self.copulas],
            "continuous_estimators": [asdict(entry) for entry in self.continuous_estimators],
            "continuous_objectives": [asdict(entry) for entry in self.continuous_objectives],
        }


def catalogue() -> Catalogue:
    """Every registered estimator (registry order), objective and copula."""
    estimators = tuple(
        EstimatorEntry(
            name=spec.name,
            summary=spec.summary,
            sampler=spec.sampler.name,
            construction=spec.sampler.construction.name.lower(),
            copula=spec.sampler.copula.name.lower(),
            unbiased_by_design=spec.unbiased_by_design,
            default=spec.name in DEFAULT_ESTIMATORS,
            reference=spec.reference,
        )
        for spec in ESTIMATORS.values()
    )
    return Catalogue(
        estimators=estimators,
        objectives=tuple(NamedSummary(name, text) for name, text in OBJECTIVE_HELP.items()),
        copulas=tuple(NamedSummary(name, text) for name, text in COPULA_HELP.items()),
        continuous_estimators=tuple(
            ContinuousEntry(
                name=spec.name,
                summary=spec.summary,
                distributions=spec.distributions,
                parameters=spec.parameters,
                min_samples=spec.min_samples,
                default=spec.name in continuous_registry.DEFAULT_ESTIMATORS,
            )
            for spec in continuous_registry.ESTIMATORS.values()
        ),
        continuous_objectives=tuple(NamedSummary(name, text) for name, text in CONTINUOUS_OBJECTIVE_HELP.items()),
    )
