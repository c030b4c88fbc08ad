"""Estimator variance at frozen parameters: R independent logit-gradient estimates on one minibatch.

For each estimator and n, ``R`` independent estimates ``g_r`` (B, D, C) of the per-example
gradient ``∇_l E_q[f_b]`` on a fixed, once-binarised minibatch. Reported: the total variance
``V = (1/B) Σ_coordinates Var(g)`` (the mean over examples of the per-example total), with a
95% interval from ``q_r = ‖g_r − ḡ‖²/B`` (``V = R/(R − 1) · mean q``, half-width
``1.96 · sd(q)/√R``); its ratio to LOORF's at the same n; ``V × evaluations`` (the variance at
one evaluation per example: n, ARSM its K(K − 1)/2 + 1 swap configurations); and a bias z-test
of the mean: against the exact gradient by enumeration when ``C^D ≤`` :data:`MAX_ENUMERATED`,
otherwise against an independent LOORF run of R estimates (two-sample
``z = (ḡ − ḡ_loorf)/√(SE² + SE_loorf²)``), Bonferroni over the coordinates.

The same R estimates also give the variance of the encoder-PARAMETER gradient: each ``g_r`` back
through the encoder (:func:`~carms_cli.models.network.encoder_gradient`, the gradient of the
minibatch surrogate ``(1/B) Σ_b ⟨g_rb, l_b(θ_enc)⟩`` a training step uses), Σ over the encoder's
weights and biases of the per-coordinate variance, with its interval, ratio to LOORF and
× evaluations. The map is linear (``J``, the encoder's transposed Jacobian at the minibatch), so the mean
is ``J ḡ`` and ``q'_r = ‖J(g_r − ḡ)‖²`` is accumulated in chunks of replicates.
"""

from dataclasses import dataclass

import numpy as np

from carms_cli.core.stats import bias_threshold, bias_z_scores
from carms_cli.discrete.estimators import EstimatorSpec
from carms_cli.discrete.registry import get_estimator
from carms_cli.models import network
from carms_cli.models.gradients import logit_gradients
from carms_cli.models.gradients_joint import evaluations
from carms_cli.models.objective import ModelObjective

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


#: Floats of parameter gradients held at once while the encoder-parameter variance is accumulated
#: (:mod:`carms_cli.models.memory` counts 3 copies).
CHUNK_FLOATS = 1 << 22


@dataclass(frozen=True)
class ParameterMoments:
    """Mean and per-coordinate variance of R encoder-parameter gradients, and their total with a 95% interval."""

    mean: dict[str, np.ndarray]
    variance: dict[str, np.ndarray]
    total: float
    half_width: float


def parameter_moments(arch: network.Architecture, params, enc_inputs: list, g: np.ndarray) -> ParameterMoments:
    """Moments of the encoder-parameter gradients ``J g_r`` of R logit-gradient estimates g (R, B, D, C).

    ``total = Σ_r q'_r / (R − 1)`` with ``q'_r = ‖J(g_r − ḡ)‖²`` (Σ over the encoder's weights and
    biases), half-width ``1.96 · sd(q')/√R``, as :func:`moments` does for the logit gradient.
    """
    r = g.shape[0]
    mean = network.encoder_gradient(arch, params, enc_inputs, g.mean(axis=0))
    size = sum(value.size for value in mean.values())
    chunk = max(1, CHUNK_FLOATS // size)
    squares = {name: np.zeros_like(value) for name, value in mean.items()}
    q = np.zeros(r)
    for first in range(0, r, chunk):
        deviations = network.encoder_gradient(arch, params, enc_inputs, g[first : first + chunk] - g.mean(axis=0))
        for name, value in deviations.items():
            squared = value**2
            squares[name] += squared.sum(axis=0)
            q[first : first + chunk] += squared.reshape(squared.shape[0], -1).sum(axis=1)
    variance = {name: value / (r - 1) for name, value in squares.items()}
    return ParameterMoments(mean, variance, float(q.sum() / (r - 1)), float(1.96 * q.std(ddof=1) / np.sqrt(r)))


@dataclass(frozen=True)
class Frozen:
    """The frozen point: architecture, parameters, minibatch and the encoder's output there."""

    arch: network.Architecture
    params: dict
    x: np.ndarray
    train_mean: np.ndarray

    def encoder_inputs(self) -> list:
        """Return the encoder's layer inputs on the minibatch (what :func:`parameter_moments` goes through)."""
        return network.encode(self.arch, self.params, self.x, self.train_mean)[1]

    def parameter_moments(self, g: np.ndarray) -> ParameterMoments:
        """Moments of the encoder-parameter gradients of R logit-gradient estimates g (R, B, D, C)."""
        return parameter_moments(self.arch, self.params, self.encoder_inputs(), g)

    def estimates(self, spec: EstimatorSpec, samples: int, replicates: int, seed: int) -> np.ndarray:
        """R independent estimates (R, B, D, C) of each example's logit gradient."""
        logits, _ = network.encode(self.arch, self.params, self.x, self.train_mean)
        probs = np.exp(network.log_softmax(logits))

        objective = ModelObjective(self.arch, self.params, self.x, self.train_mean, logits, keep=False)
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
    #: Σ over the encoder's weights and biases of the per-coordinate variance of the minibatch
    #: encoder-parameter gradient (each estimate back through the encoder), with its 95% interval
    encoder_param_variance_total: float
    encoder_param_variance_ci95: tuple[float, float]
    encoder_param_variance_ratio_to_loorf: float | None
    encoder_param_variance_times_evaluations: float


def study(
    frozen: Frozen, specs: list[EstimatorSpec], sizes: list[int], replicates: int, seed: int, significance: float
) -> list[VarianceRow]:
    """Every estimator at every n (n outermost), against LOORF at the same n."""
    exact = frozen.exact_gradient()
    reference_spec = get_estimator(REFERENCE)
    rows = []
    for n in sizes:
        reference_g = frozen.estimates(reference_spec, n, replicates, seed)
        reference, reference_param = moments(reference_g), frozen.parameter_moments(reference_g)
        independent = None
        for spec in specs:
            if spec.name == REFERENCE:
                m, param = reference, reference_param
            else:
                g = frozen.estimates(spec, n, replicates, seed)
                m, param = moments(g), frozen.parameter_moments(g)
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
            evals = evaluations(spec, frozen.arch.latent.categories, n)
            rows.append(
                VarianceRow(
                    estimator=spec.name,
                    samples=n,
                    replicates=replicates,
                    variance_total=m.total,
                    variance_ci95=(m.total - m.half_width, m.total + m.half_width),
                    variance_ratio_to_loorf=m.total / reference.total if reference.total > 0 else None,
                    variance_times_evaluations=m.total * evals,
                    bias_reference=against,
                    max_abs_z=max_z,
                    threshold=threshold,
                    biased=max_z > threshold,
                    unbiased_by_design=spec.unbiased_by_design,
                    encoder_param_variance_total=param.total,
                    encoder_param_variance_ci95=(param.total - param.half_width, param.total + param.half_width),
                    encoder_param_variance_ratio_to_loorf=(
                        param.total / reference_param.total if reference_param.total > 0 else None
                    ),
                    encoder_param_variance_times_evaluations=param.total * evals,
                )
            )
    return rows
