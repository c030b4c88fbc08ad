"""The random-number layout of one trial (shared by the compiled kernel and the NumPy backend).

Trial t owns the counters ``t·U … t·U + U − 1`` of its estimator's stream: first the base draws
(Box–Muller pairs for the Gaussian, one counter per Exponential uniform or Gamma sub-key, two per
Beta variate), then,
for MVD, :data:`MVD_SLOTS` counters per sample and reported coordinate.
"""

from carms_cli.continuous.codes import DistributionCode, EstimatorCode

#: Counters per sample and reported coordinate of the MVD draws.
MVD_SLOTS = 6
#: Counter of a Gamma sub-key's boost uniform (shape < 1), far beyond any attempt's counters.
BOOST_COUNTER = 1 << 32


def base_uniforms(dist: int, count: int) -> int:
    """Return the counters ``count`` base draws take: whole Box–Muller pairs for the Gaussian."""
    if dist == DistributionCode.GAUSSIAN:
        return count + (count & 1)
    if dist == DistributionCode.BETA:
        return 2 * count  # two Gamma sub-keys per Beta variate
    return count


def base_samples(estimator: int, samples: int, dims: int) -> int:
    """Return the samples drawn as base draws: 2n for the delta CVs (n fresh), none for MVD at D = 1."""
    if estimator in (EstimatorCode.SCORE_DELTA, EstimatorCode.PATHWISE_DELTA):
        return 2 * samples
    if estimator in (EstimatorCode.MVD, EstimatorCode.MVD_UNCOUPLED) and dims == 1:
        return 0
    return samples


def uniforms_per_trial(dist: int, estimator: int, samples: int, dims: int, size: int) -> int:
    """Return U, the counters one trial owns (``size`` = P reported coordinates)."""
    total = base_uniforms(dist, base_samples(estimator, samples, dims) * dims)
    if estimator in (EstimatorCode.MVD, EstimatorCode.MVD_UNCOUPLED):
        total += samples * size * MVD_SLOTS
    return total
