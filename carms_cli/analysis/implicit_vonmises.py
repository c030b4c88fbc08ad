"""``carms implicit --dist vonmises``: ∂x/∂κ of von Mises(0, κ) variates, checked draw by draw and timed.

For each concentration κ: draw ``draws`` variates with the Best–Fisher sampler on counter-RNG
sub-keys (stream 201, as for Gamma), compute ∂x/∂κ with the compiled integrals
(:mod:`carms_cli.continuous.kernels.vonmises`) and compare each with the 40-digit mpmath
reference at the same (κ, x): the maximum and median relative error (an x with ∂x/∂κ = 0, i.e.
x = 0 or ±π exactly, is counted apart: there the reference is 0 too). Then time, on one thread,
a batch of draws alone and draws with their derivative, and test on that batch the Monte Carlo
identity of f(x) = cos x,

    E[−sin x · ∂x/∂κ] = ∂_κ E[cos x] = A′(κ) = 1 − A/κ − A²,    A = I₁(κ)/I₀(κ),

by a z-score (A′ by mpmath at 30 digits: in float64 it cancels for large κ, where A′ ≈ 1/(2κ²)).
"""

import time
from collections.abc import Callable

import numpy as np

from carms_cli.analysis.implicit_common import STREAM, best_seconds, parse_values
from carms_cli.core.errors import InputError
from carms_cli.core.rng import stream_key

#: Concentrations whose derivative the accuracy claim covers, and the accepted range.
KAPPA_RANGE = (1e-3, 1e4)
KAPPA_LIMITS = (0.0, 1e6)
#: A timing runs about this long per repetition (the batch is cut to fit, never below 1000 draws).
TIMING_SECONDS = 0.25

CSV_FIELDS = [
    "distribution", "dtype", "kappa", "draws", "checked", "zeros", "max_rel_error", "median_rel_error", "worst_x",
    "terms_mean", "terms_max", "rejection_rate", "ns_sample", "ns_sample_derivative", "ns_derivative",
    "timing_batch", "mean_cos_slope", "cos_slope_target", "cos_slope_z", "passed",
]  # fmt: skip


def parse_kappas(text: str) -> list[float]:
    """Return the comma-separated concentrations of ``--kappa`` (finite, within :data:`KAPPA_LIMITS`)."""
    return parse_values(text, "--kappa", KAPPA_LIMITS, "0.1,1,10,100")


def cos_slope(kappa: float) -> float:
    """Return ∂_κ E[cos x] = 1 − A/κ − A² for x ~ von Mises(0, κ) (½ at κ = 0), by mpmath at 30 digits."""
    import mpmath

    if kappa == 0.0:
        return 0.5
    with mpmath.workdps(30):
        k = mpmath.mpf(kappa)
        mean = mpmath.besseli(1, k) / mpmath.besseli(0, k)
        return float(1 - mean / k - mean * mean)


def _timing(key, kappa: float, batch: int, repeats: int) -> dict:
    """Time draws alone and draws with ∂x/∂κ on one thread; return ns per draw and the batch's values."""
    from carms_cli.continuous.kernels import vonmises

    first = np.uint64(0)
    probe = 1000
    x, g = np.empty(probe), np.empty(probe)
    vonmises.vonmises_samples(key, first, kappa, x[:1])  # compile
    vonmises.vonmises_samples_with_derivative(key, first, kappa, x[:1], g[:1])
    start = time.perf_counter()
    vonmises.vonmises_samples_with_derivative(key, first, kappa, x, g)
    per_draw = (time.perf_counter() - start) / probe
    size = int(min(batch, max(probe, TIMING_SECONDS / max(per_draw, 1e-9))))
    x, values, g = np.empty(size), np.empty(size), np.empty(size)
    sample = best_seconds(lambda: vonmises.vonmises_samples(key, first, kappa, x), repeats)
    both = best_seconds(lambda: vonmises.vonmises_samples_with_derivative(key, first, kappa, values, g), repeats)
    rejections = vonmises.vonmises_samples(key, first, kappa, x)
    return {"batch": size, "ns_sample": 1e9 * sample / size, "ns_sample_derivative": 1e9 * both / size,
            "values": values, "derivatives": g, "rejection_rate": rejections / size}  # fmt: skip


def _identity(kappa: float, values: np.ndarray, derivatives: np.ndarray) -> dict:
    """E[−sin x · ∂x/∂κ] = 1 − A/κ − A²: the batch mean and its z-score."""
    samples = -np.sin(values) * derivatives
    mean = float(samples.mean())
    spread = float(samples.std(ddof=1)) / np.sqrt(samples.shape[0])
    target = cos_slope(kappa)
    return {"mean_cos_slope": mean, "cos_slope_target": target,
            "cos_slope_z": (mean - target) / spread if spread > 0 else None}  # fmt: skip


def vonmises_row(
    kappa: float, dtype_name: str, draws: int, seed: int, batch: int, repeats: int, progress: Callable[[int], None]
) -> dict:
    """Check and time ∂x/∂κ at one concentration κ; return the row of the record (see :data:`CSV_FIELDS`)."""
    from carms_cli.continuous.kernels import vonmises
    from carms_cli.continuous.vonmises import kappa_derivative, reference_kappa_derivative

    if dtype_name != "float64":
        raise InputError(f"--dist vonmises computes ∂x/∂κ in float64 only, got --dtype {dtype_name}")
    key = np.uint64(stream_key(seed, STREAM))
    x = np.empty(draws)
    vonmises.vonmises_samples(key, np.uint64(0), kappa, x)
    g, terms = kappa_derivative(kappa, x)
    reference = np.empty(draws)
    for index in range(draws):
        reference[index] = reference_kappa_derivative(kappa, float(x[index]))
        progress(index + 1)
    zero = reference == 0.0  # x = 0 or ±π exactly: ∂x/∂κ = 0, no relative error to take
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(g - reference) / np.abs(reference)
    errors[~np.isfinite(g)] = np.inf
    errors[zero] = np.where(g[zero] == 0.0, 0.0, np.inf)
    checked = ~zero | (g != 0.0)
    worst = int(np.argmax(np.where(checked, errors, -1.0)))
    timing = _timing(key, kappa, batch, repeats)
    return {
        "distribution": "vonmises",
        "dtype": dtype_name,
        "kappa": kappa,
        "draws": draws,
        "checked": int(checked.sum()),
        "zeros": int((~checked).sum()),
        "max_rel_error": float(errors[checked].max()) if checked.any() else None,
        "median_rel_error": float(np.median(errors[checked])) if checked.any() else None,
        "worst_x": float(x[worst]) if checked.any() else None,
        "terms_mean": float(terms.mean()),
        "terms_max": int(terms.max()),
        "rejection_rate": timing["rejection_rate"],
        "ns_sample": timing["ns_sample"],
        "ns_sample_derivative": timing["ns_sample_derivative"],
        "ns_derivative": timing["ns_sample_derivative"] - timing["ns_sample"],
        "timing_batch": timing["batch"],
        **_identity(kappa, timing["values"], timing["derivatives"]),
    }
