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

from carms_cli.copulas import Copula
from carms_cli.estimators import Weighting
from carms_cli.pmf import pair_pmf
from carms_cli.rng import uniform_py
from carms_cli.samplers import Construction


def copula_tuple(key: int, base: int, copula: int, n: int) -> list[float]:
    """One copula n-tuple as uniforms U_1..U_n, from draws base, base + 1, …"""
    if copula == Copula.DIRICHLET:
        e = [-math.log(uniform_py(key, base + i)) for i in range(n)]
        s = sum(e)
        return [(1.0 - x / s) ** (n - 1) for x in e]
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


def sample_set(plan, spec, trial: int, d: int, rep: int) -> list[int]:
    """The n categories of one sample set, by the definition of each construction."""
    n, k = plan.samples, plan.categories
    key = int(plan.key)
    rep_draws = plan.draws_per_var // (1 + plan.mc_pmf_draws)
    base = (trial * plan.dims + d) * plan.draws_per_var + rep * rep_draws
    p = plan.probs[d]
    construction = spec.sampler.construction
    tuple_base = lambda j: base + 1 + j * plan.tuple_draws  # noqa: E731
    if construction == Construction.INVERSE:
        n_orders = plan.orders.shape[1]
        o = min(int(uniform_py(key, base) * n_orders), n_orders - 1) if n_orders > 1 else 0
        order = plan.orders[d, o]
        edges = np.cumsum(p[order])
        return [
            int(order[min(np.searchsorted(edges, u, side="left"), k - 1)])
            for u in copula_tuple(key, tuple_base(0), plan.copula, n)
        ]
    if construction == Construction.PAIRS:
        out = []
        for j in range(n // 2):
            u = uniform_py(key, base + 1 + j)
            out += [int(u > 1 - p[1]), int(u < p[1])]
        return out
    if construction == Construction.GUMBEL:
        # Gumbel-max: argmax_c log p_c − log(−log U_{c,i})
        scores = np.array([copula_tuple(key, tuple_base(c), plan.copula, n) for c in range(k)])  # (K, n)
        gumbel = np.log(p)[:, None] - np.log(-np.log(scores))
        return [int(c) for c in gumbel.argmax(axis=0)]
    order = np.argsort(p, kind="stable")
    remaining = p[order][::-1].cumsum()[::-1]
    stop = p[order] / remaining
    out = [None] * n
    for stage in range(k - 1):
        for i, u in enumerate(copula_tuple(key, tuple_base(stage), plan.copula, n)):
            if out[i] is None and u < stop[stage]:
                out[i] = int(order[stage])
    return [int(order[-1]) if c is None else c for c in out]


def naive_samples(plan, spec, trial: int) -> np.ndarray:
    """z (n × D) of one trial."""
    z = np.empty((plan.samples, plan.dims), dtype=np.int64)
    for d in range(plan.dims):
        z[:, d] = sample_set(plan, spec, trial, d, 0)
    return z


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


def naive_estimate(plan, spec, objective, z: np.ndarray, trial: int) -> np.ndarray:
    """g (D × K) from samples z by the textbook formula of each weighting."""
    n, d_count, k = plan.samples, plan.dims, plan.categories
    f = [float(objective.evaluate(z[i])) for i in range(n)]
    g = np.zeros((d_count, k))
    if spec.weighting in (Weighting.ARM, Weighting.DISARM):
        key = int(plan.key)
        for d in range(d_count):
            p = plan.probs[d, 1]
            phi = 0.0
            for j in range(n // 2):
                b, b_tilde, delta = z[2 * j, d], z[2 * j + 1, d], f[2 * j] - f[2 * j + 1]
                if spec.weighting == Weighting.ARM:  # (f(b) − f(b̃))(u − 1/2)
                    u = uniform_py(key, (trial * d_count + d) * plan.draws_per_var + 1 + j)
                    phi += delta * (u - 0.5)
                else:  # ½ (f(b) − f(b̃)) max(p, 1 − p)(b − b̃)
                    phi += 0.5 * delta * max(p, 1 - p) * (b - b_tilde)
            g[d] = [-phi / (n // 2), phi / (n // 2)]
        return g
    for d in range(d_count):
        p = plan.probs[d]
        w = naive_ratio(plan, spec, trial, d) if spec.weighting == Weighting.IMPORTANCE else None
        for i in range(n):
            score = -p.copy()
            score[z[i, d]] += 1.0
            if spec.weighting == Weighting.SCORE:
                g[d] += f[i] * score / n
            elif spec.weighting == Weighting.LEAVE_ONE_OUT:
                baseline = (sum(f) - f[i]) / (n - 1)
                g[d] += (f[i] - baseline) * score / n
            else:
                for j in range(n):
                    if j != i and z[i, d] != z[j, d]:
                        g[d] += w[z[i, d], z[j, d]] * (f[i] - f[j]) * score / (n * (n - 1))
    return g
