"""Stick-breaking CARMS (spec 9.3): exact pair and tuple pmfs, importance ratios, and a sampler.

One categorical variable with probabilities ``p`` (K categories, all > 0) and n samples.

Construction
------------
Sort ascending with a *stable* sort, ``order = argsort(p, kind="stable")`` (ties keep their
original label order, so the construction is a deterministic function of ``p``), and write
``p^s = p[order]``. The stop probability of stage k is

    π_k = p^s_k / Σ_{l ≥ k} p^s_l,        k = 0..K−1,   π_{K−1} = 1.

For each stage k = 0..K−2 draw an independent copula n-tuple ``U[k, 1..n]`` (uniform marginals;
independent, Dirichlet (spec 7.1) or Gaussian with correlation −1/(n−1) (spec 7.2)). Sample i stops
at the first stage k with ``U[k, i] < π_k`` and takes ``z_i = order[k]``; a sample that has not
stopped before stage K−1 takes ``order[K−1]`` (stage K−1 needs no draw because π_{K−1} = 1).

Every sample has marginal ``p``: ``P(z_i = order[k]) = π_k Π_{l<k} (1 − π_l) = p^s_k`` because
``Π_{l<k} (1 − π_l) = Σ_{l ≥ k} p^s_l``.

Sorting ascending makes ``π_k ≤ 1/(K − k) ≤ 1/2`` for every drawn stage k ≤ K−2, so two samples can
always both continue (``1 − 2π_k + Φ_k > 0`` except in the tie ``π_{K−2} = 1/2`` with ``Φ = 0``), and
every off-diagonal pair probability is > 0.

Labels: *sorted coordinates* are stage indices s ∈ {0..K−1}; the original label of stage s is
``order[s]`` and the stage of label a is ``rank[a]`` with ``rank[order] = arange(K)``. A sorted
matrix ``F`` maps back to original labels as ``P[order[a], order[b]] = F[a, b]``, i.e.
``P = Aᵀ F A`` with ``A = eye(K)[order]``. (The reference code used ``A F Aᵀ``, which equals the
correct mapping only when the sort permutation is an involution; spec 17 item 4.)
"""

import numpy as np
from scipy import special

from carms_cli.discrete.sampling.copulas import Copula, bivariate_cdf, dirichlet_joint_cdf

#: Tolerance on ``Σ p = 1``. The construction itself is scale-invariant (it realises ``p / Σ p``),
#: so p must already be normalised for the identities ``P(z_i = a) = p_a`` to hold.
_SUM_TOL = 1e-9
#: Tuples evaluated per chunk in :func:`stick_tuple_pmf` (bounds the (chunk, K) work arrays).
_TUPLE_CHUNK = 1 << 16


def _check_p(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"p must be a non-empty 1-D vector, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0.0):
        raise ValueError("stick-breaking needs every probability finite and > 0")
    if abs(p.sum() - 1.0) > _SUM_TOL:
        raise ValueError(f"p must sum to 1 (got {p.sum()!r})")
    return p


def _check_n(n) -> int:
    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    return int(n)


def stop_probabilities(p) -> tuple[np.ndarray, np.ndarray]:
    """Sort order and per-stage stop probabilities of the stick-breaking construction.

    Parameters
    ----------
    p : array_like, shape (K,)
        Category probabilities, all > 0, summing to 1.

    Returns
    -------
    order : np.ndarray of int, shape (K,)
        ``argsort(p, kind="stable")``: ascending, ties broken by the original label. Stage k
        emits label ``order[k]``.
    pi : np.ndarray of float64, shape (K,)
        ``π_k = p^s_k / Σ_{l ≥ k} p^s_l`` with ``p^s = p[order]``; ``π_{K−1} = 1`` exactly and
        ``π_k ≤ 1/(K − k)`` for every k.
    """
    p = _check_p(p)
    order = np.argsort(p, kind="stable")
    ps = p[order]
    tail = np.cumsum(ps[::-1])[::-1]  # Σ_{l ≥ k} p^s_l
    pi = ps / tail
    pi[-1] = 1.0
    return order, pi


def _pair_diagonal_cdf(copula: Copula, n: int, pi: np.ndarray) -> np.ndarray:
    """``Φ_k = C(π_k, π_k)`` for two distinct samples; ``Φ_{K−1} = 1`` exactly (no draw)."""
    phi = np.ones_like(pi)
    if pi.size > 1:
        phi[:-1] = bivariate_cdf(copula, n, pi[:-1], pi[:-1])
    return phi


def stick_pair_pmf(p, copula: Copula, n: int) -> np.ndarray:
    """Exact joint pmf ``P(z_i = a, z_j = b)`` of two distinct samples i ≠ j, original labels.

    In sorted coordinates (stages), with ``Φ_k = C(π_k, π_k)`` the bivariate copula CDF of two
    distinct coordinates (``Φ_{K−1} = 1``), ``m = min(a, b)``, ``M = max(a, b)``:

    * ``a ≠ b``: both samples continue through stages l < m (``P(U_i ≥ π, U_j ≥ π) = 1 − 2π_l + Φ_l``),
      one stops and the other continues at stage m (``π_m − Φ_m``), the remaining one continues
      through m < l < M (``1 − π_l``) and stops at M (``π_M``; equal to 1 when M = K−1)::

          P^s(a, b) = Π_{l<m} (1 − 2π_l + Φ_l) · (π_m − Φ_m) · Π_{m<l<M} (1 − π_l) · π_M

    * ``a = b``: both continue through l < a and both stop at a::

          P^s(a, a) = Π_{l<a} (1 − 2π_l + Φ_l) · Φ_a

    Mapped back with ``P[order[a], order[b]] = P^s[a, b]``. The matrix is symmetric (the copulas
    are exchangeable) and its rows sum to ``p``.

    Parameters
    ----------
    p : array_like, shape (K,)
        Category probabilities, all > 0, summing to 1.
    copula : Copula
        Dependence among the n samples within a stage.
    n : int
        Number of samples (≥ 2); sets the copula's dimension.

    Returns
    -------
    np.ndarray, shape (K, K), float64
    """
    copula = Copula(copula)
    n = _check_n(n)
    order, pi = stop_probabilities(p)
    k_cats = pi.size
    phi = _pair_diagonal_cdf(copula, n, pi)
    both_continue = 1.0 - 2.0 * pi + phi
    # prefix[m] = Π_{l<m} (1 − 2π_l + Φ_l)
    prefix = np.concatenate(([1.0], np.cumprod(both_continue[:-1])))
    ps = np.zeros((k_cats, k_cats))
    for m in range(k_cats):
        ps[m, m] = prefix[m] * phi[m]
        head = prefix[m] * (pi[m] - phi[m])
        run = 1.0  # Π_{m<l<M} (1 − π_l)
        for big in range(m + 1, k_cats):
            ps[m, big] = ps[big, m] = head * run * pi[big]
            run *= 1.0 - pi[big]
    out = np.empty_like(ps)
    out[np.ix_(order, order)] = ps
    return out


def _joint_lower_cdf(copula: Copula, n: int, x: float) -> np.ndarray:
    """``G(j) = P(U_1..U_j < x)`` for j = 0..n under the n-dimensional copula (G(0) = 1, G(1) = x)."""
    g = np.empty(n + 1)
    g[0] = 1.0
    g[1] = x
    if copula == Copula.INDEPENDENT:
        g[2:] = x ** np.arange(2, n + 1)
    elif copula == Copula.DIRICHLET:
        g[2] = bivariate_cdf(copula, n, x, x)
        for j in range(3, n + 1):
            g[j] = dirichlet_joint_cdf(np.full(j, x), n)
    elif copula == Copula.GAUSSIAN:
        # orthants of j of the n coordinates at Φ⁻¹(x): Φ₂ for j = 2, the 1-D Fourier integral of
        # carms_cli.discrete.exact.gaussian for j ≥ 3 (j = n with x ≤ 1/2 is 0: the Z sum to 0)
        from carms_cli.discrete.exact.gaussian import orthant_probabilities, scale

        g[2] = bivariate_cdf(copula, n, x, x)
        if n > 2:
            latent = special.ndtri(x) / scale(n)
            rows = np.full((n - 2, n), np.inf)
            for j in range(3, n + 1):
                rows[j - 3, :j] = latent
            g[3:] = orthant_probabilities(rows, n)
    else:  # pragma: no cover - Copula() already rejects unknown values
        raise ValueError(f"unknown copula {copula!r}")
    return g


def _pattern_table(copula: Copula, n: int, pi: np.ndarray) -> np.ndarray:
    """``Q[k, a, s]``: probability that a *given* s of a given a active samples stop at stage k.

    ``Q[k, a, s] = Σ_{t=0}^{a−s} (−1)^t C(a−s, t) G_k(s + t)`` (inclusion–exclusion over the
    subsets T of the non-stopping samples), clamped at 0. Entries with s > a are 0. The last stage
    has π = 1: everyone stops, ``Q[K−1, a, s] = 1[s = a]``.
    """
    k_cats = pi.size
    q = np.zeros((k_cats, n + 1, n + 1))
    for k in range(k_cats - 1):
        g = _joint_lower_cdf(copula, n, pi[k])
        for a in range(n + 1):
            for s in range(a + 1):
                t = np.arange(a - s + 1)
                q[k, a, s] = max(float(np.sum((-1.0) ** t * special.comb(a - s, t, exact=False) * g[s + t])), 0.0)
    q[k_cats - 1, np.arange(n + 1), np.arange(n + 1)] = 1.0
    return q


def stick_tuple_pmf(p, copula: Copula, n: int) -> np.ndarray:
    """Exact joint pmf of all n samples, ``P(z_1, …, z_n)``, as an array of shape ``(K,)*n``.

    The stages are independent, so the pmf is a product over stages k of the probability of the
    stopping pattern among the samples still active at k. With ``c_k`` samples taking stage k
    (sorted coordinates) and ``A_k = Σ_{l ≥ k} c_l`` active samples at stage k, exchangeability
    gives

        P(z) = Π_k Q_k(A_k, c_k),   Q_k(A, s) = Σ_{t=0}^{A−s} (−1)^t C(A−s, t) G_k(s + t),

    where ``G_k(j) = P(U_1..U_j < π_k)`` is the j-dimensional marginal CDF of the n-dimensional
    copula at (π_k, …, π_k), ``G_k(0) = 1``: ``π_k^j`` (independent), ``dirichlet_joint_cdf`` over j
    coordinates (Dirichlet), and for the Gaussian copula the bivariate normal CDF (j = 2) and the
    1-D Fourier integral of :func:`carms_cli.discrete.exact.gaussian.orthant_probabilities`
    (j ≥ 3; accurate to a few 1e−16).

    Parameters
    ----------
    p, copula, n
        As in :func:`stick_pair_pmf`.

    Returns
    -------
    np.ndarray, shape (K,)*n, float64
        Indexed by original labels; sums to 1, every one-sample marginal is ``p`` and every
        two-sample marginal is :func:`stick_pair_pmf`.
    """
    copula = Copula(copula)
    n = _check_n(n)
    order, pi = stop_probabilities(p)
    k_cats = pi.size
    q = _pattern_table(copula, n, pi)
    rank = np.empty(k_cats, dtype=np.intp)
    rank[order] = np.arange(k_cats)
    shape = (k_cats,) * n
    total = k_cats**n
    out = np.empty(total)
    for start in range(0, total, _TUPLE_CHUNK):
        flat = np.arange(start, min(start + _TUPLE_CHUNK, total))
        rows = np.arange(flat.size)
        counts = np.zeros((flat.size, k_cats), dtype=np.intp)
        for labels in np.unravel_index(flat, shape):
            counts[rows, rank[labels]] += 1
        active = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
        prob = np.ones(flat.size)
        for k in range(k_cats):
            prob *= q[k, active[:, k], counts[:, k]]
        out[flat] = prob
    return out.reshape(shape)


def sample_stick_tuples(p, copula: Copula, n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``count`` independent n-tuples of the stick-breaking construction (plain numpy).

    Per tuple and per stage k = 0..K−2 an independent copula n-tuple U is drawn:

    * independent: ``U ~ U[0,1)^n``;
    * Dirichlet: ``E ~ Exp(1)`` iid, ``D = E / ΣE``, ``U = (1 − D)^(n−1)``;
    * Gaussian: ``X ~ N(0, I)``, ``Z = sqrt(n/(n−1)) (X − mean X)``, ``U = Φ(Z)``.

    Sample i takes ``order[k]`` for the first k with ``U[k, i] < π_k``, else ``order[K−1]``.
    Meant as an independent Monte Carlo check of the exact pmfs, not for speed.

    Returns
    -------
    np.ndarray of int64, shape (count, n)
    """
    copula = Copula(copula)
    n = _check_n(n)
    order, pi = stop_probabilities(p)
    k_cats = pi.size
    shape = (count, k_cats - 1, n)
    if copula == Copula.INDEPENDENT:
        u = rng.random(shape)
    elif copula == Copula.DIRICHLET:
        e = rng.standard_exponential(shape)
        u = (1.0 - e / e.sum(axis=-1, keepdims=True)) ** (n - 1)
    elif copula == Copula.GAUSSIAN:
        x = rng.standard_normal(shape)
        u = special.ndtr(np.sqrt(n / (n - 1)) * (x - x.mean(axis=-1, keepdims=True)))
    else:  # pragma: no cover
        raise ValueError(f"unknown copula {copula!r}")
    stop = u < pi[:-1, None]
    stop = np.concatenate([stop, np.ones((count, 1, n), dtype=bool)], axis=1)
    stage = np.argmax(stop, axis=1)  # first True along the stages
    return order[stage].astype(np.int64)
