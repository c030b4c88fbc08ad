"""Estimator variance at frozen parameters: R independent logit-gradient estimates on one minibatch.

For each estimator and n, ``R`` independent estimates ``g_r`` (B, D, C) of the per-example
gradient ``∇_l E_q[f_b]`` on a fixed, once-binarised minibatch. Reported: the total variance
``V = (1/B) Σ_coordinates Var(g)`` (the mean over examples of the per-example total), with a
95% interval from ``q_r = ‖g_r − ḡ‖²/B`` (``V = R/(R − 1) · mean q``, half-width
``1.96 · sd(q)/√R``); its ratio to LOORF's at the same n; ``V × n`` (the variance at one
evaluation per example); and a bias z-test of the mean: against the exact gradient by
enumeration when ``C^D ≤`` :data:`MAX_ENUMERATED`, otherwise against an independent LOORF run
of R estimates (two-sample ``z = (ḡ − ḡ_loorf)/√(SE² + SE_loorf²)``), Bonferroni over the
coordinates.
"""

from dataclasses import dataclass

import numpy as np

from carms_cli.core.stats import bias_threshold, bias_z_scores
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import network
from carms_cli.models.gradients import logit_gradients

#: Largest number of latent configurations C^D the exact gradient enumerates.
MAX_ENUMERATED = 4096
#: The reference estimator of the ratios and of the bias test where there is no exact gradient.
REFERENCE = "loorf"
#: Offset of the independent LOORF run's seed (its samples must not be the estimators' samples).
REFERENCE_SEED_OFFSET = 0x9E37


@dataclass(frozen=True)
class Moments:
    """Mean, per-coordinate variance and the total variance with its 95% interval, of R estimates."""

    mean: np.ndarray
    variance: np.ndarray
    total: float
    half_width: float
    replicates: int

    @property
    def std_error(self) -> np.ndarray:
        """Standard error of the mean per coordinate."""
        return np.sqrt(self.variance / self.replicates)


def moments(g: np.ndarray) -> Moments:
    """Moments of R estimates g (R, B, D, C), the total per example."""
    r, b = g.shape[:2]
    mean = g.mean(axis=0)
    q = ((g - mean) ** 2).sum(axis=(1, 2, 3)) / b
    return Moments(
        mean, g.var(axis=0, ddof=1), float(q.mean() * r / (r - 1)), float(1.96 * q.std(ddof=1) / np.sqrt(r)), r
    )


@dataclass(frozen=True)
class Frozen:
    """The frozen point: architecture, parameters, minibatch and the encoder's output there."""

    arch: network.Architecture
    params: dict
    x: np.ndarray
    train_mean: np.ndarray

    def estimates(self, spec: EstimatorSpec, samples: int, replicates: int, seed: int) -> np.ndarray:
        """R independent estimates (R, B, D, C) of each example's logit gradient."""
        logits, _ = network.encode(self.arch, self.params, self.x, self.train_mean)
        probs = np.exp(network.log_softmax(logits))

        def objective(z):
            return network.forward(self.arch, self.params, self.x, z, self.train_mean, logits=logits, keep=False).f

        return logit_gradients(spec, probs, objective, samples, seed, replicates).g

    def exact_gradient(self) -> np.ndarray | None:
        """Return the exact per-example logit gradient (B, D, C) by enumeration; None above :data:`MAX_ENUMERATED`."""
        latent = self.arch.latent
        if latent.categories**latent.dims > MAX_ENUMERATED:
            return None
        return network.exact(self.arch, self.params, self.x, self.train_mean).logit_gradient


@dataclass(frozen=True)
class VarianceRow:
    """One estimator at one n."""

    estimator: str
    samples: int
    replicates: int
    variance_total: float
    variance_ci95: tuple[float, float]
    variance_ratio_to_loorf: float | None
    variance_times_evaluations: float
    bias_reference: str  # "exact" or "loorf"
    max_abs_z: float
    threshold: float
    biased: bool
    unbiased_by_design: bool


def study(
    frozen: Frozen, specs: list[EstimatorSpec], sizes: list[int], replicates: int, seed: int, significance: float
) -> list[VarianceRow]:
    """Every estimator at every n (n outermost), against LOORF at the same n."""
    exact = frozen.exact_gradient()
    reference_spec = get_estimator(REFERENCE)
    rows = []
    for n in sizes:
        reference = moments(frozen.estimates(reference_spec, n, replicates, seed))
        independent = None
        for spec in specs:
            m = reference if spec.name == REFERENCE else moments(frozen.estimates(spec, n, replicates, seed))
            if exact is not None:
                z = bias_z_scores(m.mean, exact, m.std_error)
                against = "exact"
            else:
                if independent is None:
                    draws = frozen.estimates(reference_spec, n, replicates, seed + REFERENCE_SEED_OFFSET)
                    independent = moments(draws)
                z = bias_z_scores(m.mean, independent.mean, np.hypot(m.std_error, independent.std_error))
                against = REFERENCE
            threshold = bias_threshold(z.size, significance)
            max_z = float(np.abs(z).max())
            rows.append(
                VarianceRow(
                    estimator=spec.name,
                    samples=n,
                    replicates=replicates,
                    variance_total=m.total,
                    variance_ci95=(m.total - m.half_width, m.total + m.half_width),
                    variance_ratio_to_loorf=m.total / reference.total if reference.total > 0 else None,
                    variance_times_evaluations=m.total * n,
                    bias_reference=against,
                    max_abs_z=max_z,
                    threshold=threshold,
                    biased=max_z > threshold,
                    unbiased_by_design=spec.unbiased_by_design,
                )
            )
    return rows
