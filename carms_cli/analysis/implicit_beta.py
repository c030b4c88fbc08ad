"""``carms implicit --dist beta|dirichlet``: both implicit derivatives of Beta and Dirichlet variates, checked.

For each parameter set (rounded to the dtype): draw ``draws`` variates x = G/ΣG from the
continuous family's Gamma sampler (:mod:`carms_cli.continuous.kernels.beta`; a Beta(a, b) is a
Dirichlet(a, b) reported by its first coordinate), compute the Jacobian ∂x_i/∂α_j by both paths —
``gamma-ratio`` (through the Gamma implicit derivative of each G_j) and ``cdf`` (−∂_θ F/q of the
marginal Beta(α_i, α₀ − α_i), a different unbiased path: E[gamma-ratio | x_i]) — and compare every
value with its mpmath reference (:mod:`carms_cli.continuous.beta`). One row per (path, parameter
θ_j): the column ∂x_·/∂θ_j. Counts are of values (draws × reported coordinates): the gamma-ratio
path counts a draw as underflowed when a G_k or ΣG underflowed (x = 0 or 1 follows, or x came from
ln G), subnormal when a G_k is subnormal; the cdf path counts x_i = 0 or 1 as underflowed and
subnormal x_i apart. Then time, on one thread, draws alone and draws with each path's Jacobian,
and test on that batch E[∂x_i/∂α_j] = (δ_ij α₀ − α_i)/α₀² (Beta: E[∂x/∂a] = b/(a + b)²,
E[∂x/∂b] = −a/(a + b)²) by z-scores.
"""

import math
import time
from collections.abc import Callable

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.core.rng import stream_key

#: Shapes accepted (the accuracy target of issue 16 is a, b ∈ [1e−2, 1e4]).
SHAPE_LIMITS = (1e-4, 1e6)
#: Most Dirichlet coordinates (the Jacobian is K × K per draw).
MAX_DIMS = 32
#: The two paths, in the order of the rows.
PATHS = ("gamma-ratio", "cdf")
#: A timing runs about this long per repetition; its Jacobians take at most this many values.
TIMING_SECONDS = 0.25
TIMING_VALUES = 4_000_000

CSV_FIELDS = [
    "distribution", "dtype", "parameters", "path", "wrt", "draws", "checked", "underflows", "subnormals",
    "max_rel_error", "median_rel_error", "subnormal_max_rel_error", "worst_x", "terms_mean", "terms_max",
    "ns_sample", "ns_sample_derivative", "ns_derivative", "timing_batch", "entry", "mean_derivative",
    "mean_target", "mean_z", "max_abs_z", "variance", "passed",
]  # fmt: skip


def _numbers(text: str, option: str, example: str) -> list[float]:
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"{option} expects comma-separated numbers like '{example}', got '{text}'") from None
    if not values:
        raise InputError(f"{option} is empty")
    low, high = SHAPE_LIMITS
    for value in values:
        if not np.isfinite(value) or not low <= value <= high:
            raise InputError(f"{option} values must lie in [{low:g}, {high:g}], got {value:g}")
    return values


def parse_beta(a_text: str, b_text: str) -> list[tuple[float, ...]]:
    """Return the (a, b) pairs of ``--a`` and ``--b``: lists of equal length pair up, one value pairs with all."""
    a, b = _numbers(a_text, "--a", "0.5,2"), _numbers(b_text, "--b", "0.5,3")
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        raise InputError(f"--a and --b need as many values, or one of them a single value; got {len(a)} and {len(b)}")
    count = max(len(a), len(b))
    pairs = [(a[i if len(a) > 1 else 0], b[i if len(b) > 1 else 0]) for i in range(count)]
    return list(dict.fromkeys(pairs))


def parse_dirichlet(text: str) -> list[tuple[float, ...]]:
    """Return the parameter vectors of ``--alpha`` for the Dirichlet: 'α₁,…,α_K', several separated by '/'."""
    vectors = []
    for part in text.split("/"):
        values = _numbers(part, "--alpha", "0.5,1,2/1,1")
        if not 2 <= len(values) <= MAX_DIMS:
            raise InputError(f"--alpha: a Dirichlet needs 2 to {MAX_DIMS} values per vector, got {len(values)}")
        vectors.append(tuple(values))
    return list(dict.fromkeys(vectors))


def _draw(alpha: np.ndarray, key, draws: int) -> dict:
    from carms_cli.continuous.kernels import beta

    dims = alpha.shape[0]
    x = np.empty((draws, dims))
    gammas, logs, totals = np.empty((draws, dims)), np.empty((draws, dims)), np.empty(draws)
    beta.dirichlet_samples(key, np.uint64(0), alpha, x, gammas, logs, totals)
    return {"x": x, "gammas": gammas, "logs": logs, "totals": totals}


def _ratio_check(alpha: np.ndarray, dtype, rows: int, drawn: dict, progress: Callable[[], None]) -> dict:
    """Return the gamma-ratio Jacobians in ``dtype``, their references and each draw's class."""
    from carms_cli.continuous.beta import reference_ratio_jacobian
    from carms_cli.continuous.kernels import beta

    draws, dims = drawn["x"].shape
    cast = {name: np.ascontiguousarray(drawn[name], dtype=dtype) for name in ("x", "gammas", "logs", "totals")}
    jacobian = np.zeros((draws, dims, dims), dtype=dtype)
    kernel = beta.ratio_jacobians32 if dtype == np.float32 else beta.ratio_jacobians
    kernel(alpha.astype(dtype), cast["gammas"], cast["logs"], cast["totals"], cast["x"], rows, jacobian)
    tiny = np.finfo(dtype).tiny
    gammas = cast["gammas"].astype(np.float64)
    underflow = (gammas == 0).any(axis=1) | (cast["totals"] < tiny)
    subnormal = ~underflow & (gammas < tiny).any(axis=1)
    reference = np.full((draws, dims, dims), np.nan)
    for index in range(draws):
        if not underflow[index]:
            reference[index] = reference_ratio_jacobian(alpha, gammas[index])
        progress()
    per_value = np.broadcast_to(np.arange(dims) < rows, (draws, dims))
    return {"jacobian": jacobian, "reference": reference, "underflow": underflow[:, None] & per_value,
            "subnormal": subnormal[:, None] & per_value, "terms": None}  # fmt: skip


def _cdf_check(alpha: np.ndarray, rest: np.ndarray, dtype, rows: int, drawn: dict, progress) -> dict:
    """Return the CDF-implicit Jacobians in ``dtype``, their references and each value's class."""
    from carms_cli.continuous.beta import reference_beta_derivatives
    from carms_cli.continuous.kernels import beta

    draws, dims = drawn["x"].shape
    x = np.ascontiguousarray(drawn["x"], dtype=dtype)
    jacobian = np.zeros((draws, dims, dims), dtype=dtype)
    terms = np.zeros(draws, dtype=np.int64)
    kernel = beta.cdf_jacobians32 if dtype == np.float32 else beta.cdf_jacobians
    kernel(alpha.astype(dtype), rest.astype(dtype), x, rows, jacobian, terms)
    tiny = np.finfo(dtype).tiny
    values = x.astype(np.float64)
    underflow = (values == 0) | (values == 1)
    subnormal = (values > 0) & (values < tiny)
    reference = np.full((draws, dims, dims), np.nan)
    for index in range(draws):
        for i in range(rows):
            if not underflow[index, i]:
                da, db = reference_beta_derivatives(float(alpha[i]), float(rest[i]), float(values[index, i]))
                reference[index, i, :] = db
                reference[index, i, i] = da
        progress()
    return {"jacobian": jacobian, "reference": reference, "underflow": underflow, "subnormal": subnormal,
            "terms": terms}  # fmt: skip


def _timing(alpha, rest, dtype, rows: int, key, batch: int, repeats: int) -> dict:
    """Time draws alone and with each path's Jacobian (ns per draw, one thread); keep the batch's Jacobians."""
    from carms_cli.analysis.implicit_common import best_seconds
    from carms_cli.continuous.kernels import beta

    dims = alpha.shape[0]
    first = np.uint64(0)
    alpha32, rest32 = alpha.astype(np.float32), rest.astype(np.float32)
    if dtype == np.float32:
        kernels = {
            "gamma-ratio": lambda x, j: beta.dirichlet_samples_ratio32(key, first, alpha, alpha32, rows, x, j),
            "cdf": lambda x, j: beta.dirichlet_samples_cdf32(key, first, alpha, alpha32, rest32, rows, x, j),
        }
    else:
        kernels = {
            "gamma-ratio": lambda x, j: beta.dirichlet_samples_ratio(key, first, alpha, rows, x, j),
            "cdf": lambda x, j: beta.dirichlet_samples_cdf(key, first, alpha, rest, rows, x, j),
        }

    def buffers(size):
        return np.empty((size, dims), dtype=dtype), np.zeros((size, dims, dims), dtype=dtype)

    probe = 1000
    x, jacobian = buffers(probe)
    per_draw = 0.0
    for kernel in kernels.values():
        kernel(x[:1], jacobian[:1])  # compile
        start = time.perf_counter()
        kernel(x, jacobian)
        per_draw = max(per_draw, (time.perf_counter() - start) / probe)
    size = int(min(batch, TIMING_VALUES // (dims * dims), max(probe, TIMING_SECONDS / max(per_draw, 1e-9))))
    size = max(size, probe)
    plain = np.empty((size, dims))
    beta.dirichlet_sample_only(key, first, alpha, plain[:1])
    out = {"batch": size, "ns_sample": 1e9 * best_seconds(lambda: beta.dirichlet_sample_only(key, first, alpha, plain),
                                                          repeats) / size}  # fmt: skip
    for path, kernel in kernels.items():
        x, jacobian = buffers(size)
        out[path] = {"ns": 1e9 * best_seconds(lambda k=kernel, x=x, j=jacobian: k(x, j), repeats) / size,
                     "jacobian": jacobian}  # fmt: skip
    return out


def _identity(jacobian: np.ndarray, alpha: np.ndarray, rows: int, j: int) -> dict:
    """E[∂x_i/∂α_j] = (δ_ij α₀ − α_i)/α₀² over the batch: the entry i = j (or x₁ for a Beta's b), and max |z|."""
    total = math.fsum(alpha)
    count = jacobian.shape[0]
    focus = j if j < rows else 0
    out = {"max_abs_z": None}
    for i in range(rows):
        values = jacobian[:, i, j].astype(np.float64)
        target = ((total if i == j else 0.0) - alpha[i]) / total**2
        mean, spread = float(values.mean()), float(values.std(ddof=1))
        z = (mean - target) / (spread / np.sqrt(count)) if spread > 0 else None
        if z is not None:
            out["max_abs_z"] = max(out["max_abs_z"] or 0.0, abs(z))
        if i == focus:
            out.update(mean_derivative=mean, mean_target=target, mean_z=z, variance=spread**2)
    return out


def _errors(check: dict, rows: int, j: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Error statistics of the column ∂x_i/∂α_j, i < rows, over normal values (subnormal apart); errors; normal mask."""
    values = check["jacobian"][:, :rows, j].astype(np.float64)
    reference = check["reference"][:, :rows, j]
    underflow, subnormal = check["underflow"][:, :rows], check["subnormal"][:, :rows]
    normal = ~underflow & ~subnormal
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(values - reference) / np.abs(reference)
    errors[~np.isfinite(values)] = np.inf
    errors[(reference == 0) & (values == 0)] = 0.0
    out = {"checked": int(normal.sum()), "underflows": int(underflow.sum()), "subnormals": int(subnormal.sum()),
           "max_rel_error": None, "median_rel_error": None, "subnormal_max_rel_error": None}  # fmt: skip
    if normal.any():
        out["max_rel_error"] = float(errors[normal].max())
        out["median_rel_error"] = float(np.median(errors[normal]))
    if subnormal.any():
        out["subnormal_max_rel_error"] = float(errors[subnormal].max())
    return out, errors, normal


def dirichlet_rows(
    distribution: str,
    parameters: tuple[float, ...],
    dtype_name: str,
    draws: int,
    seed: int,
    batch: int,
    repeats: int,
    progress: Callable[[], None],
) -> list[dict]:
    """Check and time both paths at one parameter set; return one row per (path, parameter).

    ``distribution`` is ``"beta"`` (parameters (a, b), the first coordinate reported) or
    ``"dirichlet"`` (every coordinate reported).
    """
    from carms_cli.analysis.implicit_common import DTYPES, STREAM

    dtype = DTYPES[dtype_name]
    alpha = np.array([float(dtype(value)) for value in parameters])
    dims = alpha.shape[0]
    rows = 1 if distribution == "beta" else dims
    labels = ["a", "b"] if distribution == "beta" else [f"alpha{k + 1}" for k in range(dims)]
    # α₀ − α_i of the marginal Beta, summed without α_i (exact for K = 2), then rounded to the dtype
    rest = np.array([float(dtype(math.fsum(np.delete(alpha, i)))) for i in range(dims)])
    key = np.uint64(stream_key(seed, STREAM))
    drawn = _draw(alpha, key, draws)
    checks = {"gamma-ratio": _ratio_check(alpha, dtype, rows, drawn, progress),
              "cdf": _cdf_check(alpha, rest, dtype, rows, drawn, progress)}  # fmt: skip
    timing = _timing(alpha, rest, dtype, rows, key, batch, repeats)
    x = drawn["x"].astype(dtype).astype(np.float64)
    out = []
    for path in PATHS:
        check = checks[path]
        terms = check["terms"]
        for j in range(dims):
            stats, errors, normal = _errors(check, rows, j)
            worst = None
            if normal.any():
                flat = int(np.argmax(np.where(normal, errors, -1.0)))
                worst = float(x[:, :rows].reshape(-1)[flat])
            row = {
                "distribution": distribution,
                "dtype": dtype_name,
                "parameters": [float(value) for value in alpha],
                "parameters_given": [float(value) for value in parameters],
                "path": path,
                "wrt": labels[j],
                "draws": draws,
                **stats,
                "worst_x": worst,
                "terms_mean": None if terms is None else float(terms.mean()),
                "terms_max": None if terms is None else int(terms.max()),
                "ns_sample": timing["ns_sample"],
                "ns_sample_derivative": timing[path]["ns"],
                "ns_derivative": timing[path]["ns"] - timing["ns_sample"],
                "timing_batch": timing["batch"],
                "entry": "x" if distribution == "beta" else f"x{(j if j < rows else 0) + 1}",
                **_identity(timing[path]["jacobian"], alpha, rows, j),
            }
            out.append(row)
    return out


def dirichlet_config(distribution: str, parameter_sets: list) -> dict:
    """Return the record's ``config`` entries that name the parameter sets."""
    key = "parameters" if distribution == "beta" else "alphas"
    return {key: [list(values) for values in parameter_sets]}
