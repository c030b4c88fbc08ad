"""``carms implicit``: the implicit derivative ∂x/∂α of Gamma variates, checked draw by draw and timed.

For each shape α (rounded to the chosen dtype): draw ``draws`` Gamma(α, 1) variates with the
continuous family's counter-RNG sampler (Marsaglia–Tsang on sub-keys, the α < 1 boost), round
them to the dtype, compute ∂x/∂α with the compiled helpers, and compare each with the mpmath
reference at the same (α, x): the maximum and median relative error over normal x, with x = 0
(underflow; the derivative's limit is 0) and subnormal x counted apart. Then time, on one
thread, a batch of draws alone and draws with their derivative, and test on that batch the Monte
Carlo identities E[∂x/∂α] = 1 and E[(1/x)·∂x/∂α] = ψ′(α) (rate β = 1) by z-scores.
"""

import time
from collections.abc import Callable

import numpy as np

from carms_cli import __version__
from carms_cli.core.errors import InputError
from carms_cli.core.rng import stream_key

#: Schema of the JSON record.
SCHEMA = "carms-cli/implicit/1"
#: Random stream of the command's draws (the continuous estimators use 101–108).
STREAM = 201
#: Distributions ``carms implicit`` knows (von Mises: :mod:`carms_cli.analysis.implicit_vonmises`).
DISTRIBUTIONS = ("gamma", "vonmises")
#: Supported precisions.
DTYPES = {"float64": np.float64, "float32": np.float32}
#: Shapes whose derivative the issue targets (the accuracy claim), and the sampler's usable range.
ALPHA_RANGE = (1e-4, 1e6)
ALPHA_LIMITS = (1e-6, 1e8)
#: A timing runs about this long per repetition (the batch is cut to fit, never below 1000 draws).
TIMING_SECONDS = 0.25

CSV_FIELDS = [
    "distribution", "dtype", "alpha", "draws", "checked", "underflows", "subnormals", "max_rel_error",
    "median_rel_error", "subnormal_max_rel_error", "worst_x", "terms_mean", "terms_max", "ns_sample",
    "ns_sample_derivative", "ns_derivative", "timing_batch", "mean_derivative", "mean_derivative_z",
    "mean_ratio", "mean_ratio_target", "mean_ratio_z", "passed",
]  # fmt: skip


def parse_alphas(text: str) -> list[float]:
    """Return the comma-separated shapes of ``--alpha`` (positive, finite, within the sampler's limits)."""
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"--alpha expects comma-separated numbers like '1e-3,0.1,1', got '{text}'") from None
    if not values:
        raise InputError("--alpha is empty")
    low, high = ALPHA_LIMITS
    for value in values:
        if not np.isfinite(value) or not low <= value <= high:
            raise InputError(f"--alpha values must lie in [{low:g}, {high:g}], got {value:g}")
    return list(dict.fromkeys(values))


def _relative_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|value − reference|/|reference| (inf where the value is not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(values.astype(np.float64) - reference) / np.abs(reference)
    errors[~np.isfinite(values)] = np.inf
    return errors


def _best_seconds(run: Callable[[], None], repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _timing(key, alpha: float, dtype, batch: int, repeats: int) -> dict:
    """Time draws alone and draws with ∂x/∂α on one thread; return ns per draw and the batch's values."""
    from carms_cli.continuous.kernels import implicit

    first = np.uint64(0)
    derivative_kernel = (
        implicit.gamma_samples_with_derivative32 if dtype == np.float32 else implicit.gamma_samples_with_derivative
    )
    # compile, and size the batch from a small run so that α = 1e6 does not take minutes
    probe = 1000
    x, g = np.empty(probe), np.empty(probe, dtype=dtype)
    values = np.empty(probe, dtype=dtype)
    implicit.gamma_samples(key, first, alpha, x[:1])
    derivative_kernel(key, first, alpha, values[:1], g[:1])
    start = time.perf_counter()
    derivative_kernel(key, first, alpha, values, g)
    per_draw = (time.perf_counter() - start) / probe
    size = int(min(batch, max(probe, TIMING_SECONDS / max(per_draw, 1e-9))))
    x = np.empty(size)
    values, g = np.empty(size, dtype=dtype), np.empty(size, dtype=dtype)
    sample = _best_seconds(lambda: implicit.gamma_samples(key, first, alpha, x), repeats)
    both = _best_seconds(lambda: derivative_kernel(key, first, alpha, values, g), repeats)
    return {"batch": size, "ns_sample": 1e9 * sample / size, "ns_sample_derivative": 1e9 * both / size,
            "values": values, "derivatives": g}  # fmt: skip


def _identities(alpha: float, values: np.ndarray, derivatives: np.ndarray) -> dict:
    """E[∂x/∂α] = 1 and E[(1/x)∂x/∂α] = ψ′(α): the batch means and their z-scores."""
    from scipy.special import polygamma

    g = derivatives.astype(np.float64)
    count = g.shape[0]

    def z_score(samples: np.ndarray, target: float) -> tuple[float, float | None]:
        mean = float(samples.mean())
        spread = float(samples.std(ddof=1)) / np.sqrt(count)
        return mean, (mean - target) / spread if spread > 0 else None

    mean_g, z_g = z_score(g, 1.0)
    target = float(polygamma(1, alpha))
    if np.all(values > 0):
        mean_ratio, z_ratio = z_score(g / values.astype(np.float64), target)
    else:  # an underflowed x hides (1/x)∂x/∂α, which grows without bound as x → 0
        mean_ratio, z_ratio = None, None
    return {"mean_derivative": mean_g, "mean_derivative_z": z_g, "mean_ratio": mean_ratio,
            "mean_ratio_target": target, "mean_ratio_z": z_ratio}  # fmt: skip


def implicit_row(
    alpha: float, dtype_name: str, draws: int, seed: int, batch: int, repeats: int, progress: Callable[[int], None]
) -> dict:
    """Check and time ∂x/∂α at one shape α; return the row of the record (see :data:`CSV_FIELDS`)."""
    from carms_cli.continuous.implicit import reference_shape_derivative, shape_derivative
    from carms_cli.continuous.kernels import implicit

    dtype = DTYPES[dtype_name]
    shape = float(dtype(alpha))  # the dtype-rounded α, used for the draws, the derivative and the reference
    key = np.uint64(stream_key(seed, STREAM))
    standard = np.empty(draws)
    implicit.gamma_samples(key, np.uint64(0), shape, standard)
    x = standard.astype(dtype)
    g, terms = shape_derivative(shape, x, dtype)
    tiny = np.finfo(dtype).tiny
    reference = np.zeros(draws)
    for index in range(draws):
        if x[index] != 0:
            reference[index] = reference_shape_derivative(shape, float(x[index]))
        progress(index + 1)
    underflow = x == 0
    subnormal = (x > 0) & (x < tiny)
    normal = x >= tiny
    errors = _relative_errors(g, reference)
    worst = int(np.argmax(np.where(normal, errors, -1.0))) if normal.any() else None
    timing = _timing(key, shape, dtype, batch, repeats)
    row = {
        "distribution": "gamma",
        "dtype": dtype_name,
        "alpha": shape,
        "alpha_given": alpha,
        "draws": draws,
        "checked": int(normal.sum()),
        "underflows": int(underflow.sum()),
        "subnormals": int(subnormal.sum()),
        "max_rel_error": float(errors[normal].max()) if normal.any() else None,
        "median_rel_error": float(np.median(errors[normal])) if normal.any() else None,
        "subnormal_max_rel_error": float(errors[subnormal].max()) if subnormal.any() else None,
        "worst_x": float(x[worst]) if worst is not None else None,
        "terms_mean": float(terms[x > 0].mean()) if (x > 0).any() else 0.0,
        "terms_max": int(terms.max()),
        "ns_sample": timing["ns_sample"],
        "ns_sample_derivative": timing["ns_sample_derivative"],
        "ns_derivative": timing["ns_sample_derivative"] - timing["ns_sample"],
        "timing_batch": timing["batch"],
        **_identities(shape, timing["values"], timing["derivatives"]),
    }
    return row


def implicit_record(
    distribution: str,
    alphas: list[float],
    dtype_name: str,
    draws: int,
    seed: int,
    batch: int,
    repeats: int,
    max_error: float | None,
    progress: Callable[[int], None],
) -> dict:
    """Run :func:`implicit_row` for every α and return the JSON record (``rows``, ``config``, ``passed``).

    For ``vonmises`` the values in ``alphas`` are the concentrations κ, each run by ``vonmises_row``.
    """
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"--dist must be one of {', '.join(DISTRIBUTIONS)} for now, got '{distribution}'")
    if dtype_name not in DTYPES:
        raise InputError(f"--dtype must be float64 or float32, got '{dtype_name}'")
    if draws < 2:
        raise InputError(f"--draws must be at least 2, got {draws}")
    if batch < 1000:
        raise InputError(f"--batch must be at least 1000, got {batch}")
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1, got {repeats}")
    if max_error is not None and not (np.isfinite(max_error) and max_error > 0):
        raise InputError(f"--max-error must be a positive number, got {max_error:g}")
    from carms_cli.analysis.implicit_vonmises import vonmises_row
    from carms_cli.continuous.implicit import REFERENCE_DIGITS

    row_of = vonmises_row if distribution == "vonmises" else implicit_row
    rows = []
    for position, alpha in enumerate(alphas):
        row = row_of(
            alpha, dtype_name, draws, seed, batch, repeats, lambda done, base=position * draws: progress(base + done)
        )
        # a row with no normal x (every draw underflowed or was subnormal) has nothing to fail
        row["passed"] = max_error is None or row["max_rel_error"] is None or row["max_rel_error"] <= max_error
        rows.append(row)
    return {
        "schema": SCHEMA,
        "version": __version__,
        "config": {
            "distribution": distribution,
            "dtype": dtype_name,
            ("kappas" if distribution == "vonmises" else "alphas"): alphas,
            "draws": draws,
            "seed": seed,
            "stream": STREAM,
            "batch": batch,
            "repeats": repeats,
            "threads": 1,
            "max_error": max_error,
            "reference": f"mpmath {REFERENCE_DIGITS} digits",
        },
        "rows": rows,
        "passed": all(row["passed"] for row in rows),
    }


def implicit_csv(record: dict) -> str:
    """One CSV row per α (von Mises: per κ) of an ``implicit`` record."""
    import csv
    import io

    from carms_cli.analysis import implicit_vonmises

    fields = implicit_vonmises.CSV_FIELDS if record["config"]["distribution"] == "vonmises" else CSV_FIELDS

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in record["rows"]:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in fields})
    return buffer.getvalue()
