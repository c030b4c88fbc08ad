"""Per-trial helpers of UNORD (spec 10): sampling without replacement and the exact R terms.

Allocation-free like the rest of the per-trial code (buffers come from the caller), so the CPU
and CUDA drivers share them.
"""

import numpy as np

from carms_cli.core import jit
from carms_cli.core.rng import uniform


def unord_scratch(n: int, k: int) -> tuple[int, int]:
    """(floats, ints) of scratch the UNORD helpers need."""
    return n + 2 * (1 << n) + n + n * n + k, n + k


@jit.helper(error_model="numpy")
def sample_without_replacement(
    key, trial_base, draws_per_var, n, k, d_count, probs, z, work, iwork
):  # pragma: no cover - compiled
    """Draw n distinct joint configurations into ``z`` (n×D) and their probabilities into ``work[:n]``.

    Configuration i is drawn from q restricted to the configurations not drawn yet, variable by
    variable (draw ``1 + i`` of variable d): given the prefix ``c_1..c_{d−1}`` of probability π,
    category c has the unexcluded mass ``m(c) = π p_{d,c} − Σ_{j alive, z_{j,d} = c} q(z_j)``
    over the earlier configurations j that share the prefix ("alive"). ``m(c)`` is set to exactly
    0 when every completion of the prefix is excluded (the count of such j equals ``K^{D−d−1}``),
    so rounding can never pick an excluded configuration. This is exact sampling without
    replacement with D uniforms per configuration and no rejection loop.
    """
    q = 0
    mass = 2 * n + 2 * (1 << n) + n * n  # per-category mass m(c), after the coefficient scratch
    alive = 0
    count = n
    for i in range(n):
        prefix = 1.0
        for j in range(i):
            iwork[alive + j] = 1
        for d in range(d_count):
            for c in range(k):
                work[mass + c] = 0.0
                iwork[count + c] = 0
            for j in range(i):
                if iwork[alive + j]:
                    c = z[j, d]
                    work[mass + c] += work[q + j]
                    iwork[count + c] += 1
            completions = 1  # K^(D − d − 1), capped just above n (only "== count" matters)
            for _ in range(d_count - 1 - d):
                completions *= k
                if completions > n:
                    break
            total = 0.0
            for c in range(k):
                if iwork[count + c] >= completions:
                    m = 0.0
                else:
                    m = prefix * probs[d, c] - work[mass + c]
                    if m < 0.0:  # rounding only: the true mass is at least one configuration's
                        m = 0.0
                work[mass + c] = m
                total += m
            target = uniform(key, trial_base + np.uint64(d * draws_per_var + 1 + i)) * total
            running = 0.0
            choice = -1
            last = 0
            for c in range(k):
                m = work[mass + c]
                if m > 0.0:
                    last = c
                    running += m
                    if choice < 0 and running >= target:
                        choice = c
            if choice < 0:  # target beyond the rounded running sum
                choice = last
            z[i, d] = choice
            prefix *= probs[d, choice]
            for j in range(i):
                if iwork[alive + j] and z[j, d] != choice:
                    iwork[alive + j] = 0
        work[q + i] = prefix


@jit.helper(error_model="numpy")
def _plackett_luce(target, base, n, work, subset_mass, table):  # pragma: no cover - compiled
    """``P^{D∖A}(T)``: probability that the first |T| draws without replacement are the set T.

    Here the mass ``base = q(A)`` is already removed. A dynamic programme over the subsets of T:
    ``h(M) = Σ_{b∈M} h(M∖b) q_b / (1 − base − q(M∖b))``, h(∅) = 1.
    """
    work[table] = 1.0
    for mask in range(1, 1 << n):
        if mask & ~target:
            continue
        total = 0.0
        rest = mask
        while rest:
            low = rest & -rest
            b = 0
            while (1 << b) != low:
                b += 1
            previous = mask ^ low
            total += work[table + previous] * work[b] / (1.0 - base - work[subset_mass + previous])
            rest ^= low
        work[table + mask] = total
    return work[table + target]


@jit.helper(error_model="numpy")
def unord_coefficients(n, f, work, coef):  # pragma: no cover - compiled
    """``c_s = q(s) R(S, s)(f(s) − B(S, s))`` for the n configurations (probabilities ``work[:n]``).

    With ``P0 = P(S)``, ``P1_s = P^{D∖{s}}(S∖{s})`` and ``P2_{st} = P^{D∖{s,t}}(S∖{s,t})``:
    ``c_s = (q_s/P0)(P1_s (1 − q_s) f_s − Σ_{t≠s} q_t P2_{st} f_t)``.
    """
    subset_mass = n
    table = n + (1 << n)
    p1 = n + 2 * (1 << n)
    p2 = p1 + n
    every = (1 << n) - 1
    work[subset_mass] = 0.0
    for mask in range(1, 1 << n):
        low = mask & -mask
        b = 0
        while (1 << b) != low:
            b += 1
        work[subset_mass + mask] = work[subset_mass + (mask ^ low)] + work[b]
    p0 = _plackett_luce(every, 0.0, n, work, subset_mass, table)
    for s in range(n):
        work[p1 + s] = _plackett_luce(every ^ (1 << s), work[s], n, work, subset_mass, table)
        for t in range(s + 1, n):
            value = _plackett_luce(every ^ (1 << s) ^ (1 << t), work[s] + work[t], n, work, subset_mass, table)
            work[p2 + s * n + t] = value
            work[p2 + t * n + s] = value
    for s in range(n):
        q_s = work[s]
        inner = work[p1 + s] * (1.0 - q_s) * f[s]
        for t in range(n):
            if t != s:
                inner -= work[t] * work[p2 + s * n + t] * f[t]
        coef[s] = q_s / p0 * inner
