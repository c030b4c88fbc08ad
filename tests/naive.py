"""Slow, obviously-correct reference implementations for the tests.

Everything here is plain Python over the same counter-based random stream (the pure-Python
twin of the kernel RNG), so the fast kernels must reproduce it trial by trial.
"""

import math

import numpy as np

from carms_cli.copulas import Copula
from carms_cli.estimators import Weighting
from carms_cli.rng import uniform_py


def latent_tuple(key: int, base: int, copula: int, n: int) -> list[float]:
    """One copula n-tuple on the latent scale, from draws base + 1 .. (see kernels/trial.py)."""
    if copula == Copula.DIRICHLET:
        e = [-math.log(uniform_py(key, base + 1 + i)) for i in range(n)]
        s = sum(e)
        return [1.0 - x / s for x in e]
    if copula == Copula.GAUSSIAN:
        x = []
        for i in range(0, n, 2):
            u1 = uniform_py(key, base + 1 + i)
            u2 = uniform_py(key, base + 2 + i)
            r = math.sqrt(-2.0 * math.log(u1))
            x.extend([r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)])
        x = x[:n]
        mean = sum(x) / n
        return [math.sqrt(n / (n - 1)) * (v - mean) for v in x]
    return [uniform_py(key, base + 1 + i) for i in range(n)]


def naive_samples(plan, trial: int) -> np.ndarray:
    """z (n × D) of one trial, by the definition: order drawn uniformly, inverse CDF."""
    n, d_count = plan.samples, plan.dims
    key = int(plan.key)
    z = np.empty((n, d_count), dtype=np.int64)
    n_orders = plan.orders.shape[1]
    for d in range(d_count):
        base = trial * d_count * plan.draws_per_var + d * plan.draws_per_var
        o = min(int(uniform_py(key, base) * n_orders), n_orders - 1) if n_orders > 1 else 0
        for i, y in enumerate(latent_tuple(key, base, plan.copula, n)):
            position = sum(1 for t in plan.thresholds[d, o] if y > t)
            z[i, d] = plan.orders[d, o, position]
    return z


def naive_estimate(plan, objective, z: np.ndarray) -> np.ndarray:
    """g (D × K) from samples z by the textbook formula of each weighting."""
    n, d_count, k = plan.samples, plan.dims, plan.categories
    f = [float(objective.evaluate(z[i])) for i in range(n)]
    g = np.zeros((d_count, k))
    for d in range(d_count):
        p = plan.probs[d]
        for i in range(n):
            score = -p.copy()
            score[z[i, d]] += 1.0
            if plan.weighting == Weighting.SCORE:
                g[d] += f[i] * score / n
            elif plan.weighting == Weighting.LEAVE_ONE_OUT:
                baseline = (sum(f) - f[i]) / (n - 1)
                g[d] += (f[i] - baseline) * score / n
            else:
                for j in range(n):
                    if j != i and z[i, d] != z[j, d]:
                        w = p[z[i, d]] * p[z[j, d]] / pair_probability(plan, d, z[i, d], z[j, d])
                        g[d] += w * (f[i] - f[j]) * score / (n * (n - 1))
    return g


_PAIR_CACHE: dict = {}


def pair_probability(plan, d: int, a: int, b: int) -> float:
    """P(a, b) recomputed from the plan's order tables (cached by content)."""
    from carms_cli.categorical import pair_pmf

    key = (plan.probs[d].tobytes(), plan.orders[d].tobytes(), plan.copula, plan.samples)
    if key not in _PAIR_CACHE:
        p = plan.probs[d]
        _PAIR_CACHE[key] = pair_pmf(p, plan.orders[d], Copula(plan.copula), plan.samples)
    return _PAIR_CACHE[key][a, b]
