"""The Problem: every input a run depends on, parsed, validated and immutable.

A report prints the resolved Problem in its header, so a run can be repeated from its output.
"""

from dataclasses import dataclass

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.discrete.objectives import MAX_PAIR_TABLE, Objective, build_objective

#: |Σ p − 1| allowed in ``--probs`` before refusing; within it rows are renormalised.
PROB_SUM_TOLERANCE = 1e-6
MAX_CATEGORIES = 100_000
MAX_SAMPLES = 64
MAX_DIMS = 10_000
MAX_TRIALS = 1 << 40


#: Config entries that state a discrete problem (``compare`` refuses runs that differ in one).
PROBLEM_KEYS = ("categories", "samples", "dims", "objective", "binary", "probs")

@dataclass(frozen=True, eq=False)
class Problem:
    """K categories, n samples, D independent variables with probabilities ``probs`` (D×K)."""

    categories: int
    samples: int
    dims: int
    probs: np.ndarray
    probs_source: str
    objective: Objective
    trials: int
    seed: int

    def __post_init__(self):
        """Make ``probs`` read-only."""
        self.probs.setflags(write=False)

    def exact_gradient(self) -> np.ndarray:
        """∇ of E[f(z)] w.r.t. the logits (spec 1.2): ``p_dk (F_d(k) − Σ_c p_dc F_d(c))``."""
        cond = self.objective.conditional_means(self.probs)
        centred = cond - (self.probs * cond).sum(axis=1, keepdims=True)
        return self.probs * centred


def parse_matrix(text: str, option: str) -> np.ndarray:
    """Rows of comma-separated numbers separated by ';' into a 2-D float array."""
    rows = [row for row in text.replace(" ", "").split(";")]
    if not text.strip() or any(row == "" for row in rows):
        raise InputError(f"{option} is empty or has an empty row: '{text}'")
    parsed = []
    for row in rows:
        try:
            parsed.append([float(x) for x in row.split(",")])
        except ValueError:
            raise InputError(f"{option} has a value that is not a number in row '{row}'") from None
    lengths = {len(r) for r in parsed}
    if len(lengths) != 1:
        raise InputError(f"{option} rows have different lengths {sorted(lengths)}")
    return np.asarray(parsed, dtype=np.float64)


def _resolve_dims(rows: int, dims: int | None, option: str) -> int:
    if dims is None or dims == rows:
        return rows
    if rows == 1:
        return dims
    raise InputError(f"{option} has {rows} rows but --dims is {dims}")


def _resolve_categories(k_given: int, categories: int | None, option: str) -> int:
    if categories is not None and categories != k_given:
        raise InputError(f"{option} has {k_given} categories per row but --categories is {categories}")
    return k_given


def _check_size(categories: int, samples: int, dims: int) -> None:
    if categories < 2:
        raise InputError(f"--categories must be at least 2, got {categories}")
    if categories > MAX_CATEGORIES:
        raise InputError(f"--categories must be at most {MAX_CATEGORIES}, got {categories}")
    if samples < 2:
        raise InputError(f"--samples must be at least 2 (leave-one-out needs two), got {samples}")
    if samples > MAX_SAMPLES:
        raise InputError(f"--samples must be at most {MAX_SAMPLES}, got {samples}")
    if dims < 1:
        raise InputError(f"--dims must be at least 1, got {dims}")
    if dims > MAX_DIMS:
        raise InputError(f"--dims must be at most {MAX_DIMS}, got {dims}")


def resolve_probs(
    *,
    probs: str | None,
    logits: str | None,
    alpha: float,
    categories: int | None,
    dims: int | None,
    seed: int,
):
    """Probabilities (D×K) from ``--probs``, ``--logits`` or a seeded Dirichlet(α) draw.

    Returns ``(probs, categories, dims, source)``. A single given row is used for every
    variable. ``--probs`` rows must be positive and sum to 1 within
    :data:`PROB_SUM_TOLERANCE` (they are then renormalised); zero probabilities are refused
    because their logit is −∞.
    """
    if probs is not None and logits is not None:
        raise InputError("give either --probs or --logits, not both")
    if probs is not None or logits is not None:
        option = "--probs" if probs is not None else "--logits"
        matrix = parse_matrix(probs if probs is not None else logits, option)
        if not np.all(np.isfinite(matrix)):
            raise InputError(f"{option} contains NaN or infinite values")
        k = _resolve_categories(matrix.shape[1], categories, option)
        d = _resolve_dims(matrix.shape[0], dims, option)
        _check_size(k, 2, d)
        if probs is not None:
            if np.any(matrix < 0):
                raise InputError("--probs has a negative probability")
            if np.any(matrix == 0):
                raise InputError("--probs has a zero probability (its logit is -inf); use a small positive value")
            sums = matrix.sum(axis=1)
            bad = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
            if np.any(bad):
                row = int(np.argmax(bad))
                raise InputError(f"--probs row {row} sums to {sums[row]:.9g}, not 1 (tolerance {PROB_SUM_TOLERANCE:g})")
            matrix = matrix / sums[:, None]
            source = "--probs"
        else:
            shifted = matrix - matrix.max(axis=1, keepdims=True)
            matrix = np.exp(shifted)
            matrix /= matrix.sum(axis=1, keepdims=True)
            if np.any(matrix == 0):
                raise InputError("--logits are so spread that a probability underflows to 0")
            source = "softmax(--logits)"
        matrix = np.broadcast_to(matrix, (d, k)).copy()
        return matrix, k, d, source
    k = 10 if categories is None else categories
    d = 1 if dims is None else dims
    _check_size(k, 2, d)
    if not (np.isfinite(alpha) and alpha > 0):
        raise InputError(f"--alpha must be a positive number, got {alpha}")
    largest = max_alpha(k)
    if alpha > largest:
        raise InputError(
            f"--alpha {alpha:g} overflows float64 in a Dirichlet draw of K = {k} categories; the largest that "
            f"works is {largest:.3g} (p is then uniform to 16 digits already)"
        )
    rng = np.random.default_rng([seed, 1])
    matrix = rng.dirichlet(np.full(k, alpha), size=d)
    if np.any(matrix <= 0) or not np.all(np.isfinite(matrix)):
        raise InputError(f"a probability drawn from Dirichlet({alpha:g}) underflowed to 0; use a larger --alpha")
    return matrix, k, d, f"Dirichlet(alpha={alpha:g}) draw, seed {seed}"


def max_alpha(categories: int) -> float:
    """Largest ``--alpha`` whose Dirichlet draw cannot overflow: the K Gamma(α) draws must sum below 1.8e308."""
    return float(np.finfo(np.float64).max / (4 * categories))


def objective_bound(objective: Objective) -> float:
    """Return a bound on ``max_z |f(z)|`` from the tables (inf when it overflows float64)."""
    with np.errstate(over="ignore", invalid="ignore"):
        bound = np.abs(objective.unary).max(axis=1).sum()
        if objective.pair is not None:
            bound += np.abs(objective.pair).max(axis=(2, 3)).sum()
        if objective.full is not None:
            bound += np.abs(objective.full).max()
    return float(bound)


def largest_objective(trials: int, samples: int, dims: int, categories: int) -> float:
    """Return the largest ``max |f|`` whose statistics stay finite in float64 for this run.

    Every sum the statistics keep is at most ``trials · D·K`` squared estimates of size about
    ``n·|f|`` (Σ(g − ḡ)², Σ‖g − r‖²); a factor 16 of headroom covers the centring. Beyond it a run
    could only report overflowed numbers (no verdict), so it is refused up front.
    """
    return float(np.sqrt(np.finfo(np.float64).max / (16.0 * trials * dims * categories * samples**2)))


def check_objective_magnitude(objective: Objective, trials: int, samples: int, dims: int, categories: int) -> None:
    """Refuse objective values too large for the run's statistics (InputError naming the largest that works)."""
    largest = largest_objective(trials, samples, dims, categories)
    bound = objective_bound(objective)
    if not bound <= largest:
        reached = "overflow float64" if not np.isfinite(bound) else f"reach |f| = {bound:.3g}"
        raise InputError(
            f"objective values {reached}: the statistics ({trials:,} trial{'s' if trials > 1 else ''} × "
            f"{dims * categories:,} coordinates, n = {samples}) stay finite only up to |f| = {largest:.3g}; "
            "scale the objective down"
        )


#: Bytes per D·K entry of a problem's own tables at their peak: the Dirichlet draw and its
#: temporaries, the objective's unary table, the exact gradient's conditional means (measured
#: peak 5.4 float64 D×K arrays; 12 leaves room for the copies the run keeps beside them).
PROBLEM_BYTES_PER_ENTRY = 12 * 8


def problem_bytes(categories: int | None, dims: int | None, matrix: str | None, objective: str) -> int:
    """Estimate the peak bytes of building a problem, from its options alone (before any allocation)."""
    rows = matrix.count(";") + 1 if matrix else 1
    k = categories or (matrix.split(";")[0].count(",") + 1 if matrix else 10)
    d = dims or rows
    total = PROBLEM_BYTES_PER_ENTRY * d * k
    if objective.strip().lower().startswith("pairwise"):
        total += 2 * 8 * min(d * d * k * k, MAX_PAIR_TABLE)
    return total


def default_trials(samples: int, dims: int) -> int:
    """About one second of work for the default estimator set: 4·10⁶/(n·D), at least 10⁴."""
    return max(10_000, int(round(4_000_000 / (samples * dims), -3)))


def build_problem(
    *,
    categories: int | None = None,
    samples: int = 4,
    dims: int | None = None,
    probs: str | None = None,
    logits: str | None = None,
    alpha: float = 1.0,
    objective: str = "linear",
    trials: int | None = None,
    seed: int = 0,
    memory_budget: int | None = None,
) -> Problem:
    """Validate all inputs and resolve them into a :class:`Problem` (raises InputError).

    ``memory_budget`` (bytes): an objective file is checked against it before it is read.
    """
    if seed < 0 or seed >= 2**63:
        raise InputError(f"--seed must be in 0..2^63-1, got {seed}")
    matrix, k, d, source = resolve_probs(
        probs=probs, logits=logits, alpha=alpha, categories=categories, dims=dims, seed=seed
    )
    _check_size(k, samples, d)
    if trials is None:
        trials = default_trials(samples, d)
    if trials <= 0:
        raise InputError(f"--trials must be positive, got {trials}")
    if trials > MAX_TRIALS:
        raise InputError(f"--trials must be at most 2^40, got {trials}")
    built = build_objective(objective, d, k, seed, memory_budget)
    check_objective_magnitude(built, int(trials), samples, d, k)
    return Problem(
        categories=k,
        samples=samples,
        dims=d,
        probs=matrix,
        probs_source=source,
        objective=built,
        trials=int(trials),
        seed=int(seed),
    )
