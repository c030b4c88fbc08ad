"""Applicability rules an estimator declares on its spec (``EstimatorSpec.requires``).

Each rule says why the estimator cannot run at K categories, n samples and D variables on an
objective, or None when it can; :func:`carms_cli.discrete.registry.applicable` asks a spec's
rules in their order and knows nothing about any construction. Rules are frozen dataclasses, so
two specs declaring the same rules compare equal.
"""

from dataclasses import dataclass


class Requirement:
    """One rule of an estimator spec."""

    def reason(self, spec, categories: int, samples: int, dims: int, objective) -> str | None:
        """Why ``spec`` cannot run here (None if it can; ``objective`` may be None: not checked)."""
        raise NotImplementedError


@dataclass(frozen=True)
class BinaryOnly(Requirement):
    """Defined only for K = 2 (binary variables)."""

    def reason(self, spec, categories, samples, dims, objective):
        """See :meth:`Requirement.reason`."""
        if categories != 2:
            return f"estimator '{spec.name}' is binary: use --categories 2 (or --binary), got K={categories}"
        return None


@dataclass(frozen=True)
class EvenSamples(Requirement):
    """n/2 antithetic pairs: n must be even."""

    def reason(self, spec, categories, samples, dims, objective):
        """See :meth:`Requirement.reason`."""
        if samples % 2:
            return f"estimator '{spec.name}' uses n/2 antithetic pairs: --samples must be even, got {samples}"
        return None


@dataclass(frozen=True)
class MaxCategories(Requirement):
    """At most ``limit`` categories, because of ``why``."""

    limit: int
    why: str

    def reason(self, spec, categories, samples, dims, objective):
        """See :meth:`Requirement.reason`."""
        if categories > self.limit:
            return f"estimator '{spec.name}' is limited to K <= {self.limit} ({self.why}), got K={categories}"
        return None


@dataclass(frozen=True)
class MaxSamples(Requirement):
    """At most ``limit`` samples, because of ``why``."""

    limit: int
    why: str

    def reason(self, spec, categories, samples, dims, objective):
        """See :meth:`Requirement.reason`."""
        if samples > self.limit:
            return f"estimator '{spec.name}': {self.why}; --samples must be at most {self.limit}, got {samples}"
        return None


@dataclass(frozen=True)
class DistinctConfigurations(Requirement):
    """n distinct joint configurations: n ≤ K^D."""

    def reason(self, spec, categories, samples, dims, objective):
        """See :meth:`Requirement.reason`."""
        if samples > categories**dims:
            return (
                f"estimator '{spec.name}' draws n distinct configurations: --samples {samples} exceeds "
                f"the K^D = {categories**dims} configurations"
            )
        return None


@dataclass(frozen=True)
class NeedsRelaxation(Requirement):
    """A differentiable extension of f to the simplex: refused on full-table objectives."""

    def reason(self, spec, categories, samples, dims, objective):
        """See :meth:`Requirement.reason`."""
        if objective is not None and objective.full is not None:
            return (
                f"estimator '{spec.name}' needs a differentiable extension of f to the simplex; objective "
                f"'{objective.spec}' is a full K^D table, which defines none (use an additive or pairwise objective)"
            )
        return None


BINARY_ONLY = BinaryOnly()
EVEN_SAMPLES = EvenSamples()
DISTINCT_CONFIGURATIONS = DistinctConfigurations()
NEEDS_RELAXATION = NeedsRelaxation()
