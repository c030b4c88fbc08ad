"""Slow, obviously-correct reference implementations for the tests.

Everything here is plain Python over the same counter-based random stream (the pure-Python
twin of the kernel RNG), so the fast kernels must reproduce it trial by trial. Counter layout
(see kernels/trial.py): variable d of trial t owns ``draws_per_var`` counters from
``(t·D + d)·draws_per_var``; sample set r (0 = the estimate's samples, r ≥ 1 the reference
code's Monte Carlo pmf sets) starts ``r·rep_draws`` later; its draw 0 picks the order and copula
tuple j starts at draw ``1 + j·tuple_draws``.
"""

import math

import numpy as np
from scipy import special

from carms_cli.core.rng import uniform_py
from carms_cli.discrete.dispatch import MissingBranch, branch
from carms_cli.discrete.estimators import Weighting
from carms_cli.discrete.exact import stick
from carms_cli.discrete.exact.inverse import order_set
from carms_cli.discrete.exact.pmf import pair_pmf, ratio_table
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import Construction


def copula_tuple(key: int, base: int, copula: int, n: int) -> list[float]:
    """One copula n-tuple as uniforms U_1..U_n, from draws base, base + 1, …"""
    if copula == Copula.DIRICHLET:
        # Dirichlet(1, …, 1) as the spacings of n − 1 sorted uniforms
        cuts = [0.0, *sorted(uniform_py(key, base + i) for i in range(n - 1)), 1.0]
        return [(1.0 - (cuts[i + 1] - cuts[i])) ** (n - 1) for i in range(n)]
    if copula == Copula.GAUSSIAN:
        x = []
        for i in range(0, n, 2):
            u1, u2 = uniform_py(key, base + i), uniform_py(key, base + i + 1)
            r = math.sqrt(-2.0 * math.log(u1))
            x.extend([r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)])
        x = x[:n]
        mean = sum(x) / n
        return [float(special.ndtr(math.sqrt(n / (n - 1)) * (v - mean))) for v in x]
    return [uniform_py(key, base + i) for i in range(n)]


def _inverse_set(plan, spec, key, base, tuple_base, p) -> list[int]:
    n, k = plan.samples, plan.categories
    orders = order_set(spec.sampler.orders, p)  # built here, not read from the plan
    n_orders = orders.shape[0]
    o = min(int(uniform_py(key, base) * n_orders), n_orders - 1) if n_orders > 1 else 0
    order = orders[o]
    edges = np.cumsum(p[order])
    return [
        int(order[min(np.searchsorted(edges, u, side="left"), k - 1)])
        for u in copula_tuple(key, tuple_base(0), plan.copula, n)
    ]


def _pair_set(plan, spec, key, base, tuple_base, p) -> list[int]:
    out = []
    for j in range(plan.samples // 2):
        u = uniform_py(key, base + 1 + j)
        out += [int(u > 1 - p[1]), int(u < p[1])]
    return out


def _gumbel_set(plan, spec, key, base, tuple_base, p) -> list[int]:
    # Gumbel-max: argmax_c log p_c − log(−log U_{c,i})
    scores = np.array([copula_tuple(key, tuple_base(c), plan.copula, plan.samples) for c in range(plan.categories)])
    gumbel = np.log(p)[:, None] - np.log(-np.log(scores))  # (K, n)
    return [int(c) for c in gumbel.argmax(axis=0)]


def _stick_set(plan, spec, key, base, tuple_base, p) -> list[int]:
    n, k = plan.samples, plan.categories
    order = np.argsort(p, kind="stable")
    remaining = p[order][::-1].cumsum()[::-1]
    stop = p[order] / remaining
    out = [None] * n
    for stage in range(k - 1):
        for i, u in enumerate(copula_tuple(key, tuple_base(stage), plan.copula, n)):
            if out[i] is None and u < stop[stage]:
                out[i] = int(order[stage])
    return [int(order[-1]) if c is None else c for c in out]


#: One sample set per construction drawn variable by variable.
SAMPLE_SETS = {
    Construction.INVERSE: _inverse_set,
    Construction.GUMBEL: _gumbel_set,
    Construction.STICK: _stick_set,
    Construction.PAIRS: _pair_set,
}


def sample_set(plan, spec, trial: int, d: int, rep: int) -> list[int]:
    """The n categories of one sample set, by the definition of each construction."""
    key = int(plan.key)
    rep_draws = plan.draws_per_var // (1 + plan.mc_pmf_draws)
    base = (trial * plan.dims + d) * plan.draws_per_var + rep * rep_draws
    tuple_base = lambda j: base + 1 + j * plan.tuple_draws  # noqa: E731
    draw = branch(SAMPLE_SETS, spec.sampler.construction, "the naive reference's sample sets")
    return draw(plan, spec, key, base, tuple_base, plan.probs[d])


def _draw(plan, trial: int, d: int, j: int) -> float:
    """Uniform j of variable d in a trial (j ≥ 1: after the order draw)."""
    return uniform_py(int(plan.key), (trial * plan.dims + d) * plan.draws_per_var + j)


def arsm_dirichlet(plan, trial: int) -> np.ndarray:
    """π (D × K): E = −log u normalised."""
    e = np.array([[-math.log(_draw(plan, trial, d, 1 + c)) for c in range(plan.categories)] for d in range(plan.dims)])
    return e / e.sum(axis=1, keepdims=True)


def relaxed_scores(plan, trial: int) -> np.ndarray:
    """log p + G (n × D × K) of one trial."""
    n, k, d_count = plan.samples, plan.categories, plan.dims
    s = np.empty((n, d_count, k))
    for i in range(n):
        for d in range(d_count):
            g = [-math.log(-math.log(_draw(plan, trial, d, 1 + i * k + c))) for c in range(k)]
            s[i, d] = np.log(plan.probs[d]) + np.array(g)
    return s


def without_replacement(plan, trial: int) -> np.ndarray:
    """n distinct configurations (n × D): each from q restricted to the unseen ones, variable by
    variable, by the masses of the restricted distribution (spelled out with explicit lists)."""
    n, k, d_count = plan.samples, plan.categories, plan.dims
    chosen, q = [], []
    for i in range(n):
        prefix, config = 1.0, []
        for d in range(d_count):
            mass = []
            for c in range(k):
                matching = [j for j in range(i) if list(chosen[j][: d + 1]) == config + [c]]
                if len(matching) == k ** (d_count - 1 - d):  # every completion already drawn
                    mass.append(0.0)
                    continue
                excluded = 0.0
                for j in matching:
                    excluded += q[j]
                mass.append(max(prefix * plan.probs[d, c] - excluded, 0.0))
            target = _draw(plan, trial, d, 1 + i) * sum(mass)
            running, choice = 0.0, None
            for c in range(k):
                if mass[c] > 0:
                    running += mass[c]
                    if choice is None and running >= target:
                        choice = c
            if choice is None:
                choice = max(c for c in range(k) if mass[c] > 0)
            config.append(choice)
            prefix *= plan.probs[d, choice]
        chosen.append(config)
        q.append(prefix)
    return np.array(chosen, dtype=np.int64)


def _variable_samples(plan, spec, trial: int) -> np.ndarray:
    z = np.empty((plan.samples, plan.dims), dtype=np.int64)
    for d in range(plan.dims):
        z[:, d] = sample_set(plan, spec, trial, d, 0)
    return z


def _swap_free(plan, spec, trial: int) -> np.ndarray:
    z = np.empty((plan.samples, plan.dims), dtype=np.int64)
    z[:] = (np.log(arsm_dirichlet(plan, trial)) - np.log(plan.probs)).argmin(axis=1)
    return z


#: z (n × D) of one trial per construction.
SAMPLES = {
    Construction.INVERSE: _variable_samples,
    Construction.GUMBEL: _variable_samples,
    Construction.STICK: _variable_samples,
    Construction.PAIRS: _variable_samples,
    Construction.SUBSETS: lambda plan, spec, trial: without_replacement(plan, trial),
    Construction.RELAXED: lambda plan, spec, trial: relaxed_scores(plan, trial).argmax(axis=2),
    Construction.SWAPS: _swap_free,
}


def naive_samples(plan, spec, trial: int) -> np.ndarray:
    """z (n × D) of one trial (ARSM: its swap-free configuration in every row)."""
    return branch(SAMPLES, spec.sampler.construction, "the naive reference's samples")(plan, spec, trial)


def naive_arsm(plan, objective, trial: int) -> np.ndarray:
    """ARSM by its definition: all K² swaps of π, argmin per variable, spec 5's formula."""
    k = plan.categories
    pi = arsm_dirichlet(plan, trial)
    values = np.empty((k, k))
    for c in range(k):
        for j in range(k):
            swapped = pi.copy()
            swapped[:, [c, j]] = swapped[:, [j, c]]
            config = (np.log(swapped) - np.log(plan.probs)).argmin(axis=1)
            values[c, j] = objective.evaluate(config)
    mean = values.mean(axis=0)
    return np.einsum("cj,dj->dc", values - mean, 1.0 / k - pi)


#: Whether ∇f is evaluated at the hard one-hot samples, per relaxed weighting.
_HARD_FORWARD = {Weighting.GUMBEL_SOFTMAX: False, Weighting.STRAIGHT_THROUGH: True}


def naive_relaxed(plan, spec, objective, trial: int) -> np.ndarray:
    """(1/(nτ)) Σ_i (diag(y) − yyᵀ) ∇_y f for the multilinear extension of the tables."""
    n, d_count, k, tau = plan.samples, plan.dims, plan.categories, spec.temperature
    scores = relaxed_scores(plan, trial)
    g = np.zeros((d_count, k))
    for i in range(n):
        y = special.softmax(scores[i] / tau, axis=1)
        v = np.eye(k)[scores[i].argmax(axis=1)] if branch(_HARD_FORWARD, spec.weighting, "naive_relaxed") else y
        for d in range(d_count):
            grad = objective.unary[d].copy()
            if objective.pair is not None:
                for e in range(d_count):
                    if e > d:
                        grad += objective.pair[d, e] @ v[e]
                    elif e < d:
                        grad += objective.pair[e, d].T @ v[e]
            g[d] += (np.diag(y[d]) - np.outer(y[d], y[d])) @ grad / (n * tau)
    return g


def naive_unord(plan, objective, z: np.ndarray) -> np.ndarray:
    """Spec 10's formula with brute-force Plackett–Luce sums."""
    from carms_cli.discrete.exact.moments import plackett_luce

    n, d_count = plan.samples, plan.dims
    q = [float(np.prod(plan.probs[np.arange(d_count), z[i]])) for i in range(n)]
    f = [float(objective.evaluate(z[i])) for i in range(n)]
    p0 = plackett_luce(q)
    g = np.zeros((d_count, plan.categories))
    for s in range(n):
        others = [t for t in range(n) if t != s]
        p1 = plackett_luce([q[t] for t in others], q[s])
        baseline = q[s] * f[s] + sum(
            q[t] * plackett_luce([q[u] for u in others if u != t], q[s] + q[t]) / p1 * f[t] for t in others
        )
        score = -plan.probs.copy()
        score[np.arange(d_count), z[s]] += 1.0
        g += q[s] * p1 / p0 * (f[s] - baseline) * score
    return g


def naive_ratio(plan, spec, trial: int, d: int) -> np.ndarray:
    """The importance ratio table the estimator uses for variable d in this trial."""
    p = plan.probs[d]
    n, k = plan.samples, plan.categories
    if spec.ratio == "reference-mc":
        counts = np.zeros((k, k))
        for rep in range(1, plan.mc_pmf_draws + 1):
            s = sample_set(plan, spec, trial, d, rep)
            for i in range(n):
                for j in range(n):
                    if i != j:
                        counts[s[i], s[j]] += 1
        joint = counts / (plan.mc_pmf_draws * n * (n - 1))
    else:
        joint = pair_pmf(spec.sampler, p, n)
    if spec.ratio.startswith("reference"):
        return np.clip((np.outer(p, p) + 1e-3) / (joint + 1e-3), 0.01, 10.0)
    ratio = np.zeros((k, k))
    off = ~np.eye(k, dtype=bool)
    ratio[off] = np.outer(p, p)[off] / joint[off]
    return ratio


def naive_pairs(plan, spec, objective, z: np.ndarray, trial: int) -> np.ndarray:
    """ARM / DisARM: the φ-gradient averaged over the n/2 pairs, in logit coordinates."""
    n, d_count = plan.samples, plan.dims
    f = [float(objective.evaluate(z[i])) for i in range(n)]
    g = np.zeros((d_count, plan.categories))
    key = int(plan.key)
    for d in range(d_count):
        p = plan.probs[d, 1]
        phi = 0.0
        for j in range(n // 2):
            b, b_tilde, delta = z[2 * j, d], z[2 * j + 1, d], f[2 * j] - f[2 * j + 1]
            if spec.weighting == Weighting.ARM:  # (f(b) − f(b̃))(u − 1/2)
                u = uniform_py(key, (trial * d_count + d) * plan.draws_per_var + 1 + j)
                phi += delta * (u - 0.5)
            elif spec.weighting == Weighting.DISARM:  # ½ (f(b) − f(b̃)) max(p, 1 − p)(b − b̃)
                phi += 0.5 * delta * max(p, 1 - p) * (b - b_tilde)
            else:
                raise MissingBranch(f"naive_pairs has no branch for {spec.weighting!r}")
        g[d] = [-phi / (n // 2), phi / (n // 2)]
    return g


def _score_term(plan, spec, z, f, w, d, i, score, out) -> None:
    out += f[i] * score / plan.samples


def _leave_one_out_term(plan, spec, z, f, w, d, i, score, out) -> None:
    n = plan.samples
    baseline = (sum(f) - f[i]) / (n - 1)
    out += (f[i] - baseline) * score / n


def _importance_term(plan, spec, z, f, w, d, i, score, out) -> None:
    n = plan.samples
    for j in range(n):
        if j != i and z[i, d] != z[j, d]:
            out += w[z[i, d], z[j, d]] * (f[i] - f[j]) * score / (n * (n - 1))


#: Adds sample i's term to g_d, per score-function weighting.
_TERMS = {
    Weighting.SCORE: _score_term,
    Weighting.LEAVE_ONE_OUT: _leave_one_out_term,
    Weighting.IMPORTANCE: _importance_term,
}


def naive_score_function(plan, spec, objective, z: np.ndarray, trial: int) -> np.ndarray:
    """``Σ_i (term of sample i)`` with ``score = e_{z_i} − p``, by the textbook formula."""
    n, d_count, k = plan.samples, plan.dims, plan.categories
    term = branch(_TERMS, spec.weighting, "the naive reference's score-function terms")
    f = [float(objective.evaluate(z[i])) for i in range(n)]
    g = np.zeros((d_count, k))
    for d in range(d_count):
        p = plan.probs[d]
        w = naive_ratio(plan, spec, trial, d) if spec.weighting == Weighting.IMPORTANCE else None
        for i in range(n):
            score = -p.copy()
            score[z[i, d]] += 1.0
            term(plan, spec, z, f, w, d, i, score, g[d])
    return g


#: g (D × K) of one trial from its samples, per weighting.
ESTIMATES = {
    Weighting.SCORE: naive_score_function,
    Weighting.LEAVE_ONE_OUT: naive_score_function,
    Weighting.IMPORTANCE: naive_score_function,
    Weighting.ARM: naive_pairs,
    Weighting.DISARM: naive_pairs,
    Weighting.UNORD: lambda plan, spec, objective, z, trial: naive_unord(plan, objective, z),
    Weighting.ARSM: lambda plan, spec, objective, z, trial: naive_arsm(plan, objective, trial),
    Weighting.GUMBEL_SOFTMAX: lambda plan, spec, objective, z, trial: naive_relaxed(plan, spec, objective, trial),
    Weighting.STRAIGHT_THROUGH: lambda plan, spec, objective, z, trial: naive_relaxed(plan, spec, objective, trial),
}


def naive_estimate(plan, spec, objective, z: np.ndarray, trial: int) -> np.ndarray:
    """g (D × K) from samples z by the textbook formula of each weighting."""
    return branch(ESTIMATES, spec.weighting, "the naive reference")(plan, spec, objective, z, trial)


def stick_ratio(p, copula: Copula, n: int) -> np.ndarray:
    """Exact importance ratios ``w(a, b) = p_a p_b / P(a, b)`` for a ≠ b (spec decision 3).

    float64, no ε and no clip; the diagonal (never used, spec 6) is set to 0. In sorted
    coordinates this equals the closed form of spec 9.3, which does not depend on M = max(a, b)
    (the factors ``Π_{m<l<M} (1 − π_l) · π_M`` cancel against ``p^s_M``, also for M = K−1)::

        ratio^s(a, b) = Π_{l<m} (1 − π_l)² / (1 − 2π_l + Φ_l) · π_m (1 − π_m) / (π_m − Φ_m)

    Parameters
    ----------
    p, copula, n
        As in :func:`carms_cli.discrete.exact.stick.stick_pair_pmf`.

    Returns
    -------
    np.ndarray, shape (K, K), float64

    Raises
    ------
    ValueError
        If some a ≠ b has ``P(a, b) = 0`` while ``p_a p_b > 0`` (the ratio would be infinite).
    """
    p = np.asarray(p, dtype=np.float64)
    ratio, impossible = ratio_table(p, stick.stick_pair_pmf(p, copula, n))
    if impossible is not None:
        a, b = impossible
        raise ValueError(
            f"stick-breaking pair probability P({a},{b}) = 0 while p_a p_b > 0: the importance ratio "
            f"is undefined for copula {Copula(copula).name}, n={n}"
        )
    return ratio
