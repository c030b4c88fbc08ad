"""Per-trial logic, written once: :func:`simulate_chunk` runs a range of trials.

It takes every input and every scratch or output buffer from its caller and allocates
nothing, so the same function serves the CPU driver (called without the GIL from a pool of
threads, one call per chunk, one set of scratch per thread), the per-trial debug path
(``record=True``) and the CUDA driver (one row of device scratch per GPU thread). It keeps no
state in its scratch between chunks.

The per-trial body reads like the NumPy backend: draw (:func:`inverse_set`, :func:`sample_set`,
:func:`mc_ratios`), evaluate the objective (:func:`objective_values`, over the one compiled copy
of f, :func:`~carms_cli.discrete.kernels.dense.objective_value`), :func:`coefficients`,
:func:`accumulate` and :func:`distinct_count`. Those helpers are inlined at numba IR level
(``inline="always"``), so the kernel stays one compile unit. In numba's CPU target every array
variable costs an atomic reference-count update when it is bound, and an inlined helper binds
each array it takes, once per call: that tripled the time per trial. The kernel allocates
nothing, so it is compiled without reference counting (``_nrt=False``), which removes them all;
the peer helpers that are not inlined still take arrays once per trial.

Integer codes are read from :class:`carms_cli.discrete.sampling.copulas.Copula`,
:class:`carms_cli.discrete.sampling.samplers.Construction` and
:class:`carms_cli.discrete.estimators.Weighting`; :data:`KERNEL_PAIRS` lists the pairs the kernel
has branches for. Random draws: trial t, variable d uses counters
``t·D·draws_per_var + d·draws_per_var + j``; draw 0 picks the order, draws 1.. feed the copula.
"""

import math

import numpy as np

from carms_cli.core import jit
from carms_cli.core.jit import cached_kernel
from carms_cli.core.rng import normal_pair, uniform
from carms_cli.discrete.estimators import Weighting
from carms_cli.discrete.kernels.dense import arsm_estimate, objective_value, relaxed_estimate
from carms_cli.discrete.kernels.unordered import sample_without_replacement, unord_coefficients
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction

# numba compiles a module-level int as a constant, exactly like a literal: the codes are the
# enums' own values, never copies
INDEPENDENT = int(Copula.INDEPENDENT)
DIRICHLET = int(Copula.DIRICHLET)
GAUSSIAN = int(Copula.GAUSSIAN)

INVERSE = int(Construction.INVERSE)
GUMBEL = int(Construction.GUMBEL)
STICK = int(Construction.STICK)
PAIRS = int(Construction.PAIRS)
SWAPS = int(Construction.SWAPS)
SUBSETS = int(Construction.SUBSETS)
RELAXED = int(Construction.RELAXED)

SCORE = int(Weighting.SCORE)
LEAVE_ONE_OUT = int(Weighting.LEAVE_ONE_OUT)
IMPORTANCE = int(Weighting.IMPORTANCE)
ARM = int(Weighting.ARM)
DISARM = int(Weighting.DISARM)
ARSM = int(Weighting.ARSM)
UNORD = int(Weighting.UNORD)
GUMBEL_SOFTMAX = int(Weighting.GUMBEL_SOFTMAX)
STRAIGHT_THROUGH = int(Weighting.STRAIGHT_THROUGH)

#: What :func:`simulate_chunk` has a branch for: each construction with the weightings it runs on
#: it. :func:`carms_cli.discrete.plan.build_plan` refuses any other pair, so a member without a
#: branch fails when its plan is built instead of running another member's formula, and
#: tests/test_exhaustive.py checks that every member listed here is named in a branch below.
KERNEL_PAIRS: dict[Construction, tuple[Weighting, ...]] = {
    Construction.INVERSE: (Weighting.SCORE, Weighting.LEAVE_ONE_OUT, Weighting.IMPORTANCE),
    Construction.GUMBEL: (Weighting.SCORE, Weighting.LEAVE_ONE_OUT, Weighting.IMPORTANCE),
    Construction.STICK: (Weighting.SCORE, Weighting.LEAVE_ONE_OUT, Weighting.IMPORTANCE),
    Construction.PAIRS: (Weighting.ARM, Weighting.DISARM),
    Construction.SWAPS: (Weighting.ARSM,),
    Construction.SUBSETS: (Weighting.UNORD,),
    Construction.RELAXED: (Weighting.GUMBEL_SOFTMAX, Weighting.STRAIGHT_THROUGH),
}

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
#: Up to this K the inverse CDF counts the thresholds below each draw (branch-free and
#: vectorised: in time this beats a guide table's data-dependent branches at small K); above it,
#: a guide table (Dirichlet or independent copula) or a binary search (Gaussian latent scale)
#: keeps the cost per sample O(1) expected, O(log K) at worst.
LINEAR_SCAN_MAX = 16

#: Thresholds of a guide-table bucket counted branch-free before any binary search.
GUIDE_WINDOW = 4

#: Largest n for which the CPU driver compiles the kernel for that exact sample count (argument
#: ``fixed_samples``): each n costs one more compile (≈ 4 s, cached), worth it where the per-sample
#: loops are short; above it they run with a run-time trip count.
FIXED_SAMPLES_MAX = 8

#: Layout of the per-chunk scalar accumulators.
Q_SUM, Q_SQ_SUM, UNIQUE_SUM, UNIQUE_SQ_SUM, DUPLICATE_SUM, EVALUATION_SUM = range(6)
N_SCALARS = 6


def scratch_sizes(construction: int, n: int, k: int, d_count: int) -> tuple[tuple[int, int], int, int] | None:
    """Shapes of the scratch a driver allocates per chunk for a construction.

    Returns ``(dense shape, floats of work, ints of iwork)``; None for the copula constructions,
    which need none (their kernels are then compiled without the ARSM, UNORD and Gumbel branches).
    """
    from carms_cli.discrete.kernels.dense import arsm_scratch, relaxed_scratch
    from carms_cli.discrete.kernels.unordered import unord_scratch

    if construction == SWAPS:
        floats, ints = arsm_scratch(k, d_count)
        return (d_count, k), floats, ints
    if construction == RELAXED:
        return (d_count, k), relaxed_scratch(n, k, d_count), 1
    if construction == SUBSETS:
        floats, ints = unord_scratch(n, k)
        return (1, 1), floats, ints
    return None


@jit.helper(inline="always")
def latent_to_uniform(y, copula, n):  # pragma: no cover - compiled
    """Map a copula coordinate on its latent scale back to U (Dirichlet ``Y^(n−1)``, Gaussian ``Φ(Y)``)."""
    if copula == DIRICHLET:
        return y ** (n - 1)
    if copula == GAUSSIAN:
        return 0.5 * math.erfc(-y * _INV_SQRT2)
    return y


@jit.helper(inline="always")
def copula_tuple(key, base, copula, n, gumbel, draws):  # pragma: no cover - compiled
    """One copula n-tuple from draws ``base …`` into ``draws[:n]``, on the copula's latent scale.

    Dirichlet ``Y_i = 1 − D_i`` with D ~ Dirichlet(1, …, 1) the spacings of n − 1 sorted uniforms,
    Gaussian ``Y = √(n/(n−1)) (X − X̄)`` with X iid N(0, 1) by Box–Muller, independent
    ``Y_i = u_i``. With ``gumbel``, ``−log U_i`` instead, computed stably on each copula's own
    scale (the exponential race of CARMS-G).
    """
    if copula == DIRICHLET:
        # the spacings D_i = u_(i) − u_(i−1) (u_(0) = 0, u_(n) = 1) of n − 1 sorted uniforms are
        # uniform on the simplex, like normalised exponentials, without a logarithm per draw.
        # Insertion sort by compare-exchange: branch-free (random data defeats branch
        # prediction), and straight-line code when the kernel is compiled for a fixed n
        for i in range(n - 1):
            draws[i] = uniform(key, base + np.uint64(i))
            for j in range(i, 0, -1):
                low = draws[j - 1]
                high = draws[j]
                draws[j - 1] = min(low, high)
                draws[j] = max(low, high)
        upper = 1.0
        for i in range(n - 2, -1, -1):  # top down, so each sorted value is read before replaced
            lower = draws[i]
            draws[i + 1] = upper - lower
            upper = lower
        draws[0] = upper
        if gumbel:  # −log U = −(n−1) log(1 − D_i)
            for i in range(n):
                draws[i] = -(n - 1.0) * math.log1p(-draws[i])
        else:
            for i in range(n):
                draws[i] = 1.0 - draws[i]
    elif copula == GAUSSIAN:
        total = 0.0
        for i in range(0, n, 2):
            x1, x2 = normal_pair(key, base + np.uint64(i))
            draws[i] = x1
            total += x1
            if i + 1 < n:
                draws[i + 1] = x2
                total += x2
        mean = total / n
        scale = math.sqrt(n / (n - 1.0))
        for i in range(n):
            y = scale * (draws[i] - mean)
            if gumbel:  # −log Φ(y), accurate in both tails
                if y < 0.0:
                    draws[i] = -math.log(0.5 * math.erfc(-y * _INV_SQRT2))
                else:
                    draws[i] = -math.log1p(-0.5 * math.erfc(y * _INV_SQRT2))
            else:
                draws[i] = y
    elif gumbel:
        for i in range(n):
            draws[i] = -math.log(uniform(key, base + np.uint64(i)))
    else:
        for i in range(n):
            draws[i] = uniform(key, base + np.uint64(i))


@jit.helper(error_model="numpy")
def rotated_category(u, a, b, p_a, prefix, d, k):  # pragma: no cover - compiled
    """Inverse CDF of the reference order ``(a, b)`` = ``[a, b+1, …, K−1, 0, …, b]`` without a.

    It reads the doubled prefix sums ``S_j = Σ_{t<j} p_{t mod K}`` (j = 0..2K) of variable d.

    After a, the order is the cyclic run of doubled indices ``b+1 … b+K`` with a's copy ``a+K``
    removed; the cumulative mass through index j is ``p_a + S_{j+1} − S_{b+1}`` before ``a+K``
    and ``S_{j+1} − S_{b+1}`` after it. The category is the first j with ``u ≤`` that mass
    (binary search), taken mod K: O(K) memory per variable instead of a K(K−1)/2 × K table.
    """
    if u <= p_a:
        return a
    base = prefix[d, b + 1]
    split = a + k
    if u - p_a + base <= prefix[d, split]:
        target = u - p_a + base
        low = b + 1
        high = split - 1
    else:
        target = u + base
        low = split + 1
        high = b + k
    while low < high:  # the first j in [low, high] with S_{j+1} ≥ target (high if none)
        middle = (low + high) >> 1
        if prefix[d, middle + 1] >= target:
            high = middle
        else:
            low = middle + 1
    return low - k if low >= k else low


@jit.helper(inline="always")
def order_index(key, base, n_orders):  # pragma: no cover - compiled
    """Index of the order drawn uniformly from ``n_orders`` with draw ``base`` (0 if there is one)."""
    o = 0
    if n_orders > 1:
        o = int(uniform(key, base) * n_orders)
        if o >= n_orders:
            o = n_orders - 1
    return o


@jit.helper(inline="always")
def inverse_set(
    key, base, n_orders, rotated, copula, n, k, d, order_pairs, probs, prefix, orders, thresholds, guide, draws, z
):  # pragma: no cover - compiled
    """CARMS-I: the n categories of variable d from one order and one copula tuple, into ``z[:, d]``.

    ``z_i`` = the category at position ``#{j : Y_i > t_j}`` of the order (thresholds increasing);
    rotated plans (CARMS-I at K > 16) find it from prefix sums (:func:`rotated_category`).
    """
    n_buckets = guide.shape[2] - 1
    o = order_index(key, base, n_orders)
    copula_tuple(key, base + np.uint64(1), copula, n, False, draws)
    if rotated:
        a = order_pairs[o, 0]
        b = order_pairs[o, 1]
        p_a = probs[d, a]
        for i in range(n):
            z[i, d] = rotated_category(latent_to_uniform(draws[i], copula, n), a, b, p_a, prefix, d, k)
        return
    for i in range(n):
        y = draws[i]
        if k <= LINEAR_SCAN_MAX:
            # count the thresholds below y, which for increasing thresholds is the
            # position: a branch-free sum the compiler vectorises
            position = 0
            for j in range(k - 1):
                position += np.int64(y > thresholds[d, o, j])
        else:
            # guide table (Chen & Asau): bucket g of [0, 1) holds the thresholds
            # guide[g] .. guide[g + 1] − 1, and #{j : y > t_j} counts those below y
            # on top of guide[g]: O(1) expected in K. A bucket typically holds 0–2
            # thresholds, so its first GUIDE_WINDOW are counted without branches (one
            # at or past guide[g + 1] is ≥ the bucket's upper edge > y and never
            # counts; the mask keeps the clamped read of a short row from counting
            # twice); a binary search covers the rest, O(log K) when skewed p crowds
            # a bucket. Without a guide (Gaussian latent scale) it spans all K − 1.
            position = 0
            high = k - 1
            if n_buckets > 1:
                bucket = int(y * n_buckets)
                if bucket >= n_buckets:
                    bucket = n_buckets - 1
                low = guide[d, o, bucket]
                high = guide[d, o, bucket + 1]
                position = low
                for w in range(GUIDE_WINDOW):
                    index = low + w
                    below = y > thresholds[d, o, min(index, k - 2)]
                    position += np.int64(below & (index < high))
                if position < low + GUIDE_WINDOW:
                    high = position  # found inside the window
            while position < high:
                middle = (position + high) >> 1
                if y > thresholds[d, o, middle]:
                    position = middle + 1
                else:
                    high = middle
        z[i, d] = orders[d, o, position]


@jit.helper(inline="always")
def tuples_per_sample_set(construction, k):  # pragma: no cover - compiled
    """Copula n-tuples one sample set draws in :func:`sample_set`: K (GUMBEL), K − 1 (STICK), else 1.

    The kernels' side of :func:`carms_cli.discrete.plan.tuples_per_set` (the dense constructions
    draw their own).
    """
    if construction == GUMBEL:
        return k
    if construction == STICK:
        return k - 1
    return 1


@jit.helper(inline="always")
def sample_set(
    key, base, construction, copula, n, k, d, n_tuples, tuple_draws, probs, inv_probs, orders, thresholds, draws,
    race, sample,
):  # pragma: no cover - compiled
    """One set of n samples of variable d into ``sample`` (GUMBEL, STICK, PAIRS), from draw ``base`` on.

    GUMBEL: ``z_i = argmin_c (−log U_{c,i}) / p_c`` (first minimum); STICK: the first stage s with
    ``Y_{s,i} < π_s``, else the last category of the order; PAIRS: ``z_{2j} = 1[u_j > 1 − p]``,
    ``z_{2j+1} = 1[u_j < p]``. Copula tuple t starts at draw ``base + 1 + t·tuple_draws``.
    """
    # draw ``base`` would pick an order; these constructions read order 0 (their one order)
    remaining = n
    if construction == GUMBEL or construction == STICK:
        for i in range(n):
            sample[i] = -1
            race[i] = np.inf  # GUMBEL: best race time so far
    if construction == PAIRS:
        p_one = probs[d, 1]
        for j in range(n // 2):
            u = uniform(key, base + np.uint64(1 + j))
            sample[2 * j] = 1 if u > 1.0 - p_one else 0
            sample[2 * j + 1] = 1 if u < p_one else 0
        remaining = 0
    for t in range(n_tuples):
        if remaining == 0:
            break
        tuple_base = base + np.uint64(1 + t * tuple_draws)
        copula_tuple(key, tuple_base, copula, n, construction == GUMBEL, draws)
        # consume the tuple
        if construction == GUMBEL:
            for i in range(n):
                race_i = draws[i] * inv_probs[d, t]
                if race_i < race[i]:
                    race[i] = race_i
                    sample[i] = t
        elif construction == STICK:
            for i in range(n):
                if sample[i] < 0 and draws[i] < thresholds[d, 0, t]:
                    sample[i] = orders[d, 0, t]
                    remaining -= 1
    if construction == STICK:
        for i in range(n):
            if sample[i] < 0:
                sample[i] = orders[d, 0, k - 1]


@jit.helper(inline="always")
def mc_ratios(n, k, d, mc_pmf_draws, probs, pair_counts, mc_ratio):  # pragma: no cover - compiled
    """Variable d's ratio table of the Monte Carlo pair pmf, from the coincidences in ``pair_counts``.

    ``P̂(a, b) = counts(a, b) / (R n (n − 1))`` over the R extra sample sets, and
    ``w = clip((p_a p_b + 10⁻³)/(P̂ + 10⁻³), 0.01, 10)``.
    """
    scale = 1.0 / (mc_pmf_draws * n * (n - 1.0))
    for a in range(k):
        for b in range(k):
            estimate = pair_counts[a, b] * scale
            value = (probs[d, a] * probs[d, b] + 1e-3) / (estimate + 1e-3)
            mc_ratio[d, a, b] = min(max(value, 0.01), 10.0)


@jit.helper(inline="always")
def objective_values(n, d_count, k, z, unary, pair, has_pair, full, has_full, f):  # pragma: no cover - compiled
    """``f_i = f(z_i)`` for the n rows of z, into ``f`` (:func:`~carms_cli.discrete.kernels.dense.objective_value`)."""
    for i in range(n):
        f[i] = objective_value(z, i, d_count, k, unary, pair, has_pair, full, has_full)


@jit.helper(inline="always")
def coefficients(
    weighting, d, n, z, f, probs, ratio, mc_ratio, mc_pmf_draws, key, trial_base, draws_per_var, coef
):  # pragma: no cover - compiled
    """Per-sample coefficients of variable d into ``coef``, so that ``g_d = Σ_i c_i (e_{z_i} − p_d)``.

    SCORE ``c_i = f_i/n``; LEAVE_ONE_OUT ``c_i = (f_i − f̄)/(n − 1)``; IMPORTANCE
    ``c_i = Σ_j w_d(z_i, z_j)(f_i − f_j) / (n(n − 1))``; ARM / DisARM: per pair j the target
    ``t_j = (f(b) − f(b̃))(u_j − ½)/(n/2)`` or ``½(f(b) − f(b̃)) max(p, 1 − p)(b − b̃)/(n/2)``, with
    ``c_b = t/(b − b̃)``, ``c_b̃ = −c_b`` when b ≠ b̃ and ``c_b = t/(b − p)``, ``c_b̃ = 0`` otherwise.
    UNORD's coefficients are shared by every variable and computed once per trial (left as they are).
    """
    if weighting == SCORE:
        for i in range(n):
            coef[i] = f[i] / n
    elif weighting == LEAVE_ONE_OUT:
        mean = 0.0
        for i in range(n):
            mean += f[i]
        mean /= n
        for i in range(n):
            coef[i] = (f[i] - mean) / (n - 1)
    elif weighting == UNORD:
        pass  # computed once per trial by unord_coefficients
    elif weighting == ARM or weighting == DISARM:
        # per pair the φ-gradient is a target t_j; coordinate 1 of c (e_z − p) is c (z − p), so
        # c_b = t/(b − b̃), c_b̃ = −c_b reproduces t when b ≠ b̃, and c_b = t/(b − p) when b = b̃
        # (f may still differ through other variables).
        p_one = probs[d, 1]
        n_pairs = n // 2
        for j in range(n_pairs):
            b = z[2 * j, d]
            b_tilde = z[2 * j + 1, d]
            delta = f[2 * j] - f[2 * j + 1]
            if weighting == ARM:
                u = uniform(key, trial_base + np.uint64(d * draws_per_var + 1 + j))
                target = delta * (u - 0.5) / n_pairs
            else:
                target = 0.5 * delta * max(p_one, 1.0 - p_one) * (b - b_tilde) / n_pairs
            if b != b_tilde:
                coef[2 * j] = target / (b - b_tilde)
                coef[2 * j + 1] = -coef[2 * j]
            else:
                coef[2 * j] = target / (b - p_one)
                coef[2 * j + 1] = 0.0
    elif weighting == IMPORTANCE:
        # ties have w = 0 on the diagonal (their (i, j) and (j, i) terms cancel anyway);
        # summing in a register beats updating coef[j] in the inner loop
        scale = 1.0 / (n * (n - 1.0))
        if mc_pmf_draws > 0:  # the two loops differ only in the table (no branch inside)
            for i in range(n):
                zi = z[i, d]
                fi = f[i]
                acc_i = 0.0
                for j in range(n):
                    acc_i += mc_ratio[d, zi, z[j, d]] * (fi - f[j])
                coef[i] = acc_i * scale
        else:
            for i in range(n):
                zi = z[i, d]
                fi = f[i]
                acc_i = 0.0
                for j in range(n):
                    acc_i += ratio[d, zi, z[j, d]] * (fi - f[j])
                coef[i] = acc_i * scale


@jit.helper(inline="always")
def first_occurrence(z, i, d):  # pragma: no cover - compiled
    """Whether ``z[i, d]`` differs from every ``z[j, d]``, j < i (the first sample of its category)."""
    c = z[i, d]
    for j in range(i):
        if z[j, d] == c:
            return False
    return True


@jit.helper(inline="always")
def distinct_count(n, z, d):  # pragma: no cover - compiled
    """Distinct categories among the n samples ``z[:, d]`` of variable d."""
    unique = 0
    for i in range(n):
        if first_occurrence(z, i, d):
            unique += 1
    return unique


@jit.helper(inline="always")
def accumulate(
    d, n, k, z, coef, acc, probs, exact_gradient, sum_p2, sum_pg, sum_g2, out_a, out_a2, out_ac, out_c, out_c2,
    record, g_out, row,
):  # pragma: no cover - compiled
    """Add variable d's ``g_d = a − C p_d`` to the sums; return ``(‖g_d − ∇_d‖², distinct categories)``.

    ``a_k = Σ_{i: z_i = k} c_i`` and ``C = Σ_i c_i`` (sample order) go to Σa, Σa², ΣaC (touched
    categories only, at their first sample) and ΣC, ΣC². With ``record``, g_d also goes to
    ``g_out[row, d]``. ``acc`` (K) is left zeroed.
    """
    total = 0.0
    for i in range(n):
        total += coef[i]
        acc[z[i, d]] += coef[i]
    # ‖g_d − ∇_d‖² if no category were touched is Σ_k (C p_k + ∇_k)²; touched ones are
    # corrected below.
    q_d = total * total * sum_p2[d] + 2.0 * total * sum_pg[d] + sum_g2[d]
    unique = 0
    for i in range(n):
        if first_occurrence(z, i, d):
            c = z[i, d]
            unique += 1
            a = acc[c]
            acc[c] = 0.0
            out_a[d, c] += a
            out_a2[d, c] += a * a
            out_ac[d, c] += a * total
            shift = total * probs[d, c] + exact_gradient[d, c]
            diff = a - shift
            q_d += diff * diff - shift * shift
            if record:
                g_out[row, d, c] += a
    if record:
        for c in range(k):
            g_out[row, d, c] -= total * probs[d, c]
    out_c[d] += total
    out_c2[d] += total * total
    return q_d, unique


@jit.helper(inline="always")
def accumulate_dense(
    d_count, k, dense, exact_gradient, out_a, out_a2, record, g_out, row
):  # pragma: no cover - compiled
    """Add a dense estimate g (``dense``, D×K) to Σa and Σa²; return ``‖g − ∇‖²``.

    With ``record``, g also goes to ``g_out[row]``.
    """
    q = 0.0
    for d in range(d_count):
        for c in range(k):
            g = dense[d, c]
            out_a[d, c] += g
            out_a2[d, c] += g * g
            diff = g - exact_gradient[d, c]
            q += diff * diff
            if record:
                g_out[row, d, c] = g
    return q


# _nrt=False: no reference counting (see the module docstring); it allocates nothing
@cached_kernel(nogil=True, _nrt=False)
def simulate_chunk(
    start,
    stop,
    key,
    draws_per_var,
    construction,
    copula,
    samples,
    categories,
    dims,
    orders,
    thresholds,
    guide,
    prefix,
    pairs,
    inv_probs,
    tuple_draws,
    mc_pmf_draws,
    probs,
    log_probs,
    temperature,
    weighting,
    ratio,
    unary,
    pair,
    has_pair,
    full,
    has_full,
    exact_gradient,
    sum_p2,
    sum_pg,
    sum_g2,
    scratch,
    sample,
    dense,
    work,
    iwork,
    out,
    record,
    fixed_samples,
    fixed_dims,
):  # pragma: no cover - compiled
    """Run trials ``start .. stop − 1`` and add their statistics to the output buffers.

    Per trial and variable d, the n samples come from copula n-tuples on a latent scale:
    Dirichlet ``Y_i = 1 − D_i`` (D the spacings of n − 1 sorted uniforms, ``U_i = Y_i^(n−1)``); Gaussian
    ``Y = √(n/(n−1)) (X − X̄)`` with X iid N(0,1) by Box–Muller (``U_i = Φ(Y_i)``); independent
    ``Y_i = U_i = u_i``. The construction turns tuples into categories:

    * INVERSE (CARMS-I): one order ``o`` drawn uniformly from the variable's order set and one
      tuple; ``z_i`` = the category at position ``#{j : Y_i > t_j}`` of the order (thresholds
      increasing), i.e. the c with ``L_c < U_i ≤ R_c`` (rotated plans, CARMS-I at K > 16,
      find it from prefix sums instead: :func:`rotated_category`);
    * GUMBEL (CARMS-G): one tuple per category c; ``z_i = argmin_c (−log U_{c,i}) / p_c``, the
      exponential race equivalent to Gumbel-max ``argmax_c log p_c − log(−log U_{c,i})``;
      −log U is computed stably on each copula's own scale;
    * STICK (stick-breaking): one tuple per stage s of the ascending order; sample i stops at
      the first s with ``U_{s,i} < π_s`` (latent thresholds) and takes ``order[s]``;
    * PAIRS (binary ARM / DisARM, K = 2): n/2 antithetic pairs, pair j from one uniform u_j:
      ``z_{2j} = b = 1[u_j > 1 − p]`` and ``z_{2j+1} = b̃ = 1[u_j < p]`` with p = P(z = 1);
    * SUBSETS (UNORD): n distinct joint configurations without replacement, drawn jointly over
      the variables (:func:`~carms_cli.discrete.kernels.unordered.sample_without_replacement`);
    * SWAPS (ARSM) and RELAXED (Gumbel-softmax, straight-through) are *dense*: their helpers in
      :mod:`carms_cli.discrete.kernels.dense` draw and write the whole estimate g into ``dense``, which
      is accumulated over every coordinate (ARSM leaves no samples: its duplicate counters stay 0).

    With ``mc_pmf_draws`` > 0 (the reference code's CARMS-G), each variable also draws that many
    extra n-sample sets to estimate the pair pmf, and the trial's ratio is the reference's
    ``clip((p_a p_b + 1e-3)/(P̂(a, b) + 1e-3), 0.01, 10)``.

    Then ``f_i = f(z_i)`` and per variable the coefficients ``c_i`` (see
    :class:`~carms_cli.discrete.estimators.Weighting`), so that ``g_d = a − C p_d`` with
    ``a_k = Σ_{i: z_i = k} c_i`` and ``C = Σ_i c_i``. They are added to ``out``
    (:class:`~carms_cli.discrete.kernels.args.Outputs`): Σa_k, Σa_k², Σa_k·C (touched categories
    only) to ``out.a``, ``out.a2``, ``out.ac``, ΣC, ΣC² to ``out.c``, ``out.c2``, and
    ``out.scalars`` (Σq, Σq² with ``q = ‖g − ∇‖²``, distinct-category counts, coincidence counts and
    function evaluations). With ``record`` the trial's g and z also go to ``out.g[t − start]`` and
    ``out.z[t − start]``.

    Buffers: ``scratch`` (:class:`~carms_cli.discrete.kernels.args.Scratch`) holds the work
    buffers every call has; ``sample`` (the copula constructions but CARMS-I) and ``dense``,
    ``work``, ``iwork`` (the peers) are separate arguments because a driver passes None for what a
    specialisation leaves out (below).

    ``fixed_samples`` and ``fixed_dims`` are None or tuples of n (D) zeros: their lengths are n
    (D) as compile-time constants, so the kernel is specialised for them and the per-sample
    (per-variable) loops become straight-line code: at K = 10, n = 4, D = 1 the two make CARMS-I
    about 1.5× faster. The CPU driver passes them on the CARMS-I/independent path for
    n ≤ :data:`FIXED_SAMPLES_MAX` and for D = 1.
    """
    # parameters are named as the plan's fields (tests/test_abi.py); the body uses the short names
    n, k, d_count, order_pairs = samples, categories, dims, pairs
    z = scratch.z  # the trial's categories, read everywhere below
    if fixed_samples is not None:
        n = len(fixed_samples)
    if fixed_dims is not None:
        d_count = len(fixed_dims)
    rotated = order_pairs.shape[0] > 1  # CARMS-I at K > 16: reference orders from prefix sums
    n_orders = order_pairs.shape[0] if rotated else orders.shape[1]
    stride = np.uint64(d_count * draws_per_var)
    n_tuples = tuples_per_sample_set(construction, k)
    is_dense = construction == SWAPS or construction == RELAXED
    rep_draws = 1 + n_tuples * tuple_draws
    q_sum = 0.0
    q_sq_sum = 0.0
    unique_sum = 0
    unique_sq_sum = 0
    duplicate_sum = 0
    evaluation_sum = 0
    for trial in range(start, stop):
        trial_base = np.uint64(trial) * stride
        row = trial - start
        # `work is None` (the drivers pass None for the copula constructions) lets numba prune
        # every peer branch at compile time: the common kernels never compile ARSM, UNORD or
        # the Gumbel helpers, which would double their cold start
        if work is not None:
            if is_dense:
                # --- draw and estimate at once (ARSM, Gumbel relaxations) --------------------
                if weighting == ARSM:
                    evaluation_sum += arsm_estimate(
                        key, trial_base, draws_per_var, k, d_count, log_probs, unary, pair, has_pair, full, has_full,
                        z, work, iwork, dense,
                    )
                    for d in range(d_count):  # record the swap-free configuration, a draw from p
                        for i in range(n):
                            z[i, d] = iwork[3 * d]
                elif weighting == GUMBEL_SOFTMAX or weighting == STRAIGHT_THROUGH:
                    relaxed_estimate(
                        key, trial_base, draws_per_var, n, k, d_count, log_probs, temperature,
                        weighting == STRAIGHT_THROUGH, unary, pair, has_pair, z, work, dense,
                    )
                    evaluation_sum += n
                # --- accumulate ------------------------------------------------------------
                q = accumulate_dense(d_count, k, dense, exact_gradient, out.a, out.a2, record, out.g, row)
                if construction == RELAXED:
                    for d in range(d_count):
                        unique = distinct_count(n, z, d)
                        unique_sum += unique
                        unique_sq_sum += unique * unique
                        if unique < n:
                            duplicate_sum += 1
                q_sum += q
                q_sq_sum += q * q
                if record:
                    for i in range(n):
                        for d in range(d_count):
                            out.z[row, i, d] = z[i, d]
                continue
        # --- draw: n samples per variable into z -------------------------------------------
        if work is not None:
            if construction == SUBSETS:
                sample_without_replacement(key, trial_base, draws_per_var, n, k, d_count, probs, z, work, iwork)
        for d in range(d_count):
            if construction == SUBSETS:
                break
            if mc_pmf_draws > 0:
                for a in range(k):
                    for b in range(k):
                        scratch.pair_counts[a, b] = 0.0
            if construction == INVERSE:
                # CARMS-I (no Monte Carlo pmf: the plan refuses one): categories straight into z
                inverse_set(
                    key, trial_base + np.uint64(d * draws_per_var), n_orders, rotated, copula, n, k, d, order_pairs,
                    probs, prefix, orders, thresholds, guide, scratch.draws, z,
                )
                continue
            # `sample is None` (the CPU driver's CARMS-I and peer specialisations) prunes the
            # other constructions' sampling at compile time, as `work is None` prunes the peers
            if sample is not None:
                for rep in range(1 + mc_pmf_draws):
                    sample_set(
                        key, trial_base + np.uint64(d * draws_per_var + rep * rep_draws), construction, copula, n, k,
                        d, n_tuples, tuple_draws, probs, inv_probs, orders, thresholds, scratch.draws, scratch.race,
                        sample,
                    )
                    if rep == 0:
                        for i in range(n):
                            z[i, d] = sample[i]
                    else:
                        for i in range(n):
                            for j in range(n):
                                if i != j:
                                    scratch.pair_counts[sample[i], sample[j]] += 1.0
            if mc_pmf_draws > 0:
                mc_ratios(n, k, d, mc_pmf_draws, probs, scratch.pair_counts, scratch.mc_ratio)
        # --- evaluate the objective --------------------------------------------------------
        objective_values(n, d_count, k, z, unary, pair, has_pair, full, has_full, scratch.f)
        evaluation_sum += n
        if work is not None:
            if weighting == UNORD:  # one coefficient per configuration, shared by every variable
                unord_coefficients(n, scratch.f, work, scratch.coef)
        # --- coefficients and accumulation, per variable -----------------------------------
        q = 0.0
        for d in range(d_count):
            coefficients(
                weighting, d, n, z, scratch.f, probs, ratio, scratch.mc_ratio, mc_pmf_draws, key, trial_base,
                draws_per_var, scratch.coef,
            )
            q_d, unique = accumulate(
                d, n, k, z, scratch.coef, scratch.acc, probs, exact_gradient, sum_p2, sum_pg, sum_g2, out.a, out.a2,
                out.ac, out.c, out.c2, record, out.g, row,
            )
            unique_sum += unique
            unique_sq_sum += unique * unique
            if unique < n:
                duplicate_sum += 1
            q += q_d
        q_sum += q
        q_sq_sum += q * q
        if record:
            for i in range(n):
                for d in range(d_count):
                    out.z[row, i, d] = z[i, d]
    out.scalars[Q_SUM] += q_sum
    out.scalars[Q_SQ_SUM] += q_sq_sum
    out.scalars[UNIQUE_SUM] += unique_sum
    out.scalars[UNIQUE_SQ_SUM] += unique_sq_sum
    out.scalars[DUPLICATE_SUM] += duplicate_sum
    out.scalars[EVALUATION_SUM] += evaluation_sum
