"""``carms implicit``: implicit-reparameterization derivatives, checked draw by draw against mpmath and timed.

One :class:`Distribution` entry per ``--dist`` (:data:`DISTRIBUTIONS`): which parameter options it
reads, how it parses them into parameter sets, and the rows it makes of each set. Gamma is here;
Beta and Dirichlet are in :mod:`carms_cli.analysis.implicit_beta`.

Gamma: for each shape α (rounded to the chosen dtype): draw ``draws`` Gamma(α, 1) variates with the
continuous family's counter-RNG sampler (Marsaglia–Tsang on sub-keys, the α < 1 boost), round
them to the dtype, compute ∂x/∂α with the compiled helpers, and compare each with the mpmath
reference at the same (α, x): the maximum and median relative error over normal x, with x = 0
(underflow; the derivative's limit is 0) and subnormal x counted apart. Then time, on one
thread, a batch of draws alone and draws with their derivative, and test on that batch the Monte
Carlo identities E[∂x/∂α] = 1 and E[(1/x)·∂x/∂α] = ψ′(α) (rate β = 1) by z-scores.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from carms_cli import __version__
from carms_cli.analysis.implicit_common import (  # noqa: F401 - DTYPES, STREAM re-exported
    DTYPES,
    STREAM,
    best_seconds,
    counting_calls,
    parse_values,
)
from carms_cli.core.errors import InputError
from carms_cli.core.rng import stream_key

#: Schema of the JSON record.
SCHEMA = "carms-cli/implicit/1"
#: Shapes whose derivative the issue targets (the accuracy claim), and the sampler's usable range.
ALPHA_RANGE = (1e-4, 1e6)
ALPHA_LIMITS = (1e-6, 1e8)
#: A timing runs about this long per repetition (the batch is cut to fit, never below 1000 draws).
TIMING_SECONDS = 0.25

CSV_FIELDS = [
    "distribution", "dtype", "alpha", "draws", "checked", "underflows", "subnormals", "max_rel_error",
    "median_rel_error", "subnormal_max_rel_error", "worst_x", "terms_mean", "terms_max", "ns_sample",
    "ns_sample_derivative", "ns_derivative", "timing_batch", "mean_derivative", "mean_derivative_z",
    "mean_ratio", "mean_ratio_target", "mean_ratio_z", "timing_underflows", "timing_subnormals", "passed",
]  # fmt: skip


def parse_alphas(text: str) -> list[float]:
    """Return the comma-separated shapes of ``--alpha`` (positive, finite, within the sampler's limits)."""
    return parse_values(text, "--alpha", ALPHA_LIMITS, "1e-3,0.1,1")


def _relative_errors(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|value − reference|/|reference| (inf where the value is not finite)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(values.astype(np.float64) - reference) / np.abs(reference)
    errors[~np.isfinite(values)] = np.inf
    return errors


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
    sample = best_seconds(lambda: implicit.gamma_samples(key, first, alpha, x), repeats)
    both = best_seconds(lambda: derivative_kernel(key, first, alpha, values, g), repeats)
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

    if not np.all(np.isfinite(g)):  # never expected: say so rather than average a NaN or an infinity
        raise RuntimeError(f"∂x/∂α is not finite for {int((~np.isfinite(g)).sum())} draws at α = {alpha:g}")
    mean_g, z_g = z_score(g, 1.0)
    target = float(polygamma(1, alpha))
    underflows = int((values == 0).sum())
    if underflows == 0:
        mean_ratio, z_ratio = z_score(g / values.astype(np.float64), target)
    else:  # an underflowed x hides (1/x)∂x/∂α, which grows without bound as x → 0
        mean_ratio, z_ratio = None, None
    return {"mean_derivative": mean_g, "mean_derivative_z": z_g, "mean_ratio": mean_ratio,
            "mean_ratio_target": target, "mean_ratio_z": z_ratio, "timing_underflows": underflows,
            "timing_subnormals": int(((values > 0) & (values < np.finfo(values.dtype).tiny)).sum())}  # fmt: skip


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


def _given(options: dict, name: str, default: str) -> str:
    """Return the option's text, or ``default`` when it was not given (an empty text is refused later)."""
    value = options.get(name)
    return default if value is None else value


@dataclass(frozen=True)
class Distribution:
    """One ``--dist`` of ``carms implicit``.

    Attributes
    ----------
    options : tuple of str
        The parameter options it reads (names of :func:`parse_parameters`'s ``options``).
    parse : callable
        ``options → list of parameter sets`` (defaults filled in; :class:`InputError` on bad input).
    rows : callable
        ``(parameter set, dtype name, draws, seed, batch, repeats, progress) → list of rows``;
        ``progress()`` is called once per reference check.
    work : callable
        ``(parameter sets, draws) → number of progress calls``.
    config : callable
        ``parameter sets → the record config entries naming them``.
    csv_fields : list of str
        The CSV columns of a row.
    """

    options: tuple[str, ...]
    parse: Callable[[dict], list]
    rows: Callable[..., list[dict]]
    work: Callable[[list, int], int]
    config: Callable[[list], dict]
    csv_fields: list[str]


def _gamma_rows(alpha, dtype_name, draws, seed, batch, repeats, progress):
    return [implicit_row(alpha, dtype_name, draws, seed, batch, repeats, counting_calls(progress))]


def _beta_family(name: str) -> Distribution:
    def rows(parameters, dtype_name, draws, seed, batch, repeats, progress):
        from carms_cli.analysis.implicit_beta import dirichlet_rows

        return dirichlet_rows(name, parameters, dtype_name, draws, seed, batch, repeats, progress)

    def parse(options):
        from carms_cli.analysis.implicit_beta import parse_beta, parse_dirichlet

        if name == "beta":
            return parse_beta(_given(options, "a", "0.5,2,20"), _given(options, "b", "0.5,5,100"))
        return parse_dirichlet(_given(options, "alpha", "0.5,1,2"))

    def config(parameter_sets):
        from carms_cli.analysis.implicit_beta import dirichlet_config

        return dirichlet_config(name, parameter_sets)

    def work(parameter_sets, draws):
        return 2 * draws * len(parameter_sets)  # one reference check per draw and path

    from carms_cli.analysis.implicit_beta import CSV_FIELDS as BETA_CSV_FIELDS

    options = ("a", "b") if name == "beta" else ("alpha",)
    return Distribution(options, parse, rows, work, config, BETA_CSV_FIELDS)


def _vonmises() -> Distribution:
    """Von Mises(0, κ): one row per κ (:mod:`carms_cli.analysis.implicit_vonmises`)."""

    def parse(options):
        from carms_cli.analysis.implicit_vonmises import parse_kappas

        return parse_kappas(_given(options, "kappa", "0.1,1,10,100"))

    def rows(kappa, dtype_name, draws, seed, batch, repeats, progress):
        from carms_cli.analysis.implicit_vonmises import vonmises_row

        return [vonmises_row(kappa, dtype_name, draws, seed, batch, repeats, counting_calls(progress))]

    from carms_cli.analysis.implicit_vonmises import CSV_FIELDS as VONMISES_CSV_FIELDS

    return Distribution(
        options=("kappa",),
        parse=parse,
        rows=rows,
        work=lambda kappas, draws: draws * len(kappas),
        config=lambda kappas: {"kappas": kappas},
        csv_fields=VONMISES_CSV_FIELDS,
    )


#: The distributions ``carms implicit`` knows: adding one is one entry.
DISTRIBUTIONS: dict[str, Distribution] = {
    "gamma": Distribution(
        options=("alpha",),
        parse=lambda options: parse_alphas(_given(options, "alpha", "1e-3,0.1,1,10,1e6")),
        rows=_gamma_rows,
        work=lambda alphas, draws: draws * len(alphas),
        config=lambda alphas: {"alphas": alphas},
        csv_fields=CSV_FIELDS,
    ),
    "beta": _beta_family("beta"),
    "dirichlet": _beta_family("dirichlet"),
    "vonmises": _vonmises(),
}
#: The option each parameter name is given as on the command line.
OPTION_NAMES = {"alpha": "--alpha", "a": "--a", "b": "--b", "kappa": "--kappa"}


def parse_parameters(distribution: str, options: dict[str, str | None]) -> list:
    """Return the parameter sets of ``distribution`` from the option texts (None: not given).

    An option the distribution does not read is refused rather than ignored.
    """
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"--dist must be one of {', '.join(DISTRIBUTIONS)}, got '{distribution}'")
    entry = DISTRIBUTIONS[distribution]
    for name, value in options.items():
        if value is not None and name not in entry.options:
            users = [dist for dist, other in DISTRIBUTIONS.items() if name in other.options]
            option = OPTION_NAMES.get(name, name)
            raise InputError(f"{option} applies to --dist {' or '.join(users)}, not {distribution}")
    return entry.parse(options)


def implicit_record(
    distribution: str,
    parameter_sets: list,
    dtype_name: str,
    draws: int,
    seed: int,
    batch: int,
    repeats: int,
    max_error: float | None,
    progress: Callable[[int], None],
) -> dict:
    """Make the rows of every parameter set and return the JSON record (``rows``, ``config``, ``passed``).

    ``progress(done)`` is told how many reference checks are done (of the distribution's ``work``).
    """
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"--dist must be one of {', '.join(DISTRIBUTIONS)}, got '{distribution}'")
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
    from carms_cli.continuous.implicit import REFERENCE_DIGITS

    entry = DISTRIBUTIONS[distribution]
    done = [0]

    def tick() -> None:
        done[0] += 1
        progress(done[0])

    rows = []
    for parameters in parameter_sets:
        for row in entry.rows(parameters, dtype_name, draws, seed, batch, repeats, tick):
            # a row with no normal x (every draw underflowed or was subnormal) has nothing to fail
            row["passed"] = max_error is None or row["max_rel_error"] is None or row["max_rel_error"] <= max_error
            rows.append(row)
    return {
        "schema": SCHEMA,
        "version": __version__,
        "config": {
            "distribution": distribution,
            "dtype": dtype_name,
            **entry.config(parameter_sets),
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
    """One CSV row per row of an ``implicit`` record, in its distribution's columns (lists joined by commas)."""
    import csv
    import io

    buffer = io.StringIO()
    fields = DISTRIBUTIONS[record["config"]["distribution"]].csv_fields
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in record["rows"]:
        writer.writerow({key: _cell(row.get(key)) for key in fields})
    return buffer.getvalue()


#: Bytes per checked draw at the peak of :func:`implicit_row`: the standard and dtype-rounded
#: draws, ∂x/∂α, the terms, the mpmath reference, the relative errors and their temporaries.
BYTES_PER_DRAW = 80
#: Bytes per draw of the timing batch (its draws, values and derivatives, and the mean tests).
BYTES_PER_TIMED_DRAW = 64


def implicit_bytes(draws: int, batch: int) -> int:
    """Estimate the peak bytes of :func:`implicit_record`: one α's checked draws and timing batch at a time."""
    return BYTES_PER_DRAW * draws + BYTES_PER_TIMED_DRAW * batch


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    return value
