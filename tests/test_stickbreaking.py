"""Stick-breaking CARMS (spec 9.3): exact pair/tuple pmfs, ratios, the permutation fix, Monte Carlo.

Monte Carlo thresholds: every frequency is compared with its exact probability P within 5 binomial
standard errors, ``|f − P| ≤ 5 sqrt(P(1 − P)/N)`` (a false alarm has probability ≈ 6e-7 per cell);
seeds are fixed, so the tests are deterministic.
"""

import itertools

import numpy as np
import pytest

from carms_cli.discrete.exact import stick as stickbreaking
from carms_cli.discrete.exact.stick import (
    sample_stick_tuples,
    stick_pair_pmf,
    stick_tuple_pmf,
    stop_probabilities,
)
from carms_cli.discrete.sampling.copulas import Copula, bivariate_cdf
from tests.naive import stick_ratio

PROBS = [
    [0.1, 0.2, 0.3, 0.4],
    [0.4, 0.1, 0.2, 0.3],  # sort permutation is a 4-cycle, not an involution
    [0.7, 0.2, 0.07, 0.03],
    [0.5, 0.5],
]
ALL_COPULAS = [Copula.INDEPENDENT, Copula.DIRICHLET, Copula.GAUSSIAN]
Z_MAX = 5.0


def _tuple_cases():
    for copula in ALL_COPULAS:
        for n in (2, 3, 4):
            for p in PROBS:
                yield copula, n, p


def _markov_pair_pmf(p, copula, n):
    """Reference pair pmf by running the two samples through the stages (sorted coordinates).

    State: (stage of sample i or None, stage of sample j or None). Independent of the closed form.
    """
    order, pi = stop_probabilities(p)
    k_cats = len(pi)
    states = {(None, None): 1.0}
    for k in range(k_cats):
        if k == k_cats - 1:
            both, one = 1.0, 1.0  # π = 1: everyone stops
        else:
            both = float(bivariate_cdf(copula, n, pi[k], pi[k]))
            one = pi[k]
        new = {}
        for (si, sj), w in states.items():
            if si is not None and sj is not None:
                outcomes = [((si, sj), 1.0)]
            elif si is None and sj is None:
                outcomes = [
                    ((k, k), both),
                    ((k, None), one - both),
                    ((None, k), one - both),
                    ((None, None), 1.0 - 2.0 * one + both),
                ]
            elif si is None:
                outcomes = [((k, sj), one), ((None, sj), 1.0 - one)]
            else:
                outcomes = [((si, k), one), ((si, None), 1.0 - one)]
            for state, q in outcomes:
                new[state] = new.get(state, 0.0) + w * q
        states = new
    sorted_pmf = np.zeros((k_cats, k_cats))
    for (si, sj), w in states.items():
        sorted_pmf[si, sj] += w
    out = np.empty_like(sorted_pmf)
    out[np.ix_(order, order)] = sorted_pmf
    return out


def _spec_sorted_ratio(pi, phi):
    """Spec 9.3 closed form: ratio^s(a,b) = Π_{l<m}(1−π_l)²/(1−2π_l+Φ_l) · π_m(1−π_m)/(π_m − Φ_m)."""
    k_cats = len(pi)
    ratio = np.zeros((k_cats, k_cats))
    for a, b in itertools.permutations(range(k_cats), 2):
        m = min(a, b)
        head = np.prod([(1 - pi[st]) ** 2 / (1 - 2 * pi[st] + phi[st]) for st in range(m)])
        ratio[a, b] = head * pi[m] * (1 - pi[m]) / (pi[m] - phi[m])
    return ratio


def test_stop_probabilities_stable_sort_and_last_stage():
    order, pi = stop_probabilities([0.3, 0.2, 0.3, 0.2])
    assert order.tolist() == [1, 3, 0, 2]  # ties keep the original label order
    assert pi[-1] == 1.0
    assert np.allclose(pi, [0.2, 0.25, 0.5, 1.0], rtol=0, atol=1e-15)
    order, pi = stop_probabilities([0.4, 0.1, 0.2, 0.3])
    assert order.tolist() == [1, 2, 3, 0]
    # π_k ≤ 1/(K − k): sorting ascending keeps every drawn stage at π ≤ 1/2
    assert np.all(pi <= 1.0 / (4 - np.arange(4)) + 1e-15)


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("copula", ALL_COPULAS)
def test_pair_pmf_symmetric_with_margins_p(copula, n, p):
    pmf = stick_pair_pmf(p, copula, n)
    assert pmf.dtype == np.float64 and pmf.shape == (len(p), len(p))
    assert np.array_equal(pmf, pmf.T)
    assert np.allclose(pmf.sum(axis=1), p, rtol=0, atol=1e-13)
    assert np.all(pmf[~np.eye(len(p), dtype=bool)] > 0)
    assert np.all(pmf >= 0)
    assert np.allclose(pmf, _markov_pair_pmf(p, copula, n), rtol=0, atol=1e-15)


@pytest.mark.parametrize("p", PROBS)
@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("copula", ALL_COPULAS)
def test_ratio_exact_and_equal_to_spec_closed_form(copula, n, p):
    ratio = stick_ratio(p, copula, n)
    pmf = stick_pair_pmf(p, copula, n)
    off = ~np.eye(len(p), dtype=bool)
    assert np.all(np.diag(ratio) == 0.0)
    assert np.array_equal(ratio[off], np.outer(p, p)[off] / pmf[off])
    order, pi = stop_probabilities(p)
    phi = np.append(bivariate_cdf(copula, n, pi[:-1], pi[:-1]), 1.0)
    spec = np.empty_like(ratio)
    spec[np.ix_(order, order)] = _spec_sorted_ratio(pi, phi)
    # holds for every pair, including M = K − 1 (π_M = 1 cancels against p^s_M)
    assert np.allclose(ratio[off], spec[off], rtol=1e-12, atol=0)


def test_ratio_refuses_zero_pair_probability(monkeypatch):
    def zero_pair(p, copula, n):
        return np.array([[0.25, 0.0], [0.0, 0.25]])

    monkeypatch.setattr(stickbreaking, "stick_pair_pmf", zero_pair)
    with pytest.raises(ValueError, match="P\\(0,1\\) = 0"):
        stick_ratio([0.5, 0.5], Copula.DIRICHLET, 2)


def test_reference_permutation_is_wrong_for_non_involutions():
    """Spec 17 item 4: mapping the sorted matrix with A F Aᵀ (A = eye[order]) instead of Aᵀ F A."""
    p = np.array([0.4, 0.1, 0.2, 0.3])
    order, _ = stop_probabilities(p)
    assert not np.array_equal(order[order], np.arange(4))  # not an involution
    a_mat = np.eye(4)[order]
    for copula in ALL_COPULAS:
        pmf = stick_pair_pmf(p, copula, 3)
        sorted_pmf = pmf[np.ix_(order, order)]  # F[a, b] = P[order[a], order[b]]
        assert np.array_equal(a_mat.T @ sorted_pmf @ a_mat, pmf)
        wrong = a_mat @ sorted_pmf @ a_mat.T
        assert np.allclose(pmf.sum(axis=1), p, rtol=0, atol=1e-13)
        assert np.abs(wrong.sum(axis=1) - p).max() > 0.1  # the reference mapping breaks Σ_b P(a,b) = p_a
        if copula != Copula.INDEPENDENT:  # independent: every ratio is 1, so no mapping can go wrong
            sorted_ratio = stick_ratio(p, copula, 3)[np.ix_(order, order)]
            wrong_ratio = a_mat @ sorted_ratio @ a_mat.T
            exact = np.outer(p, p) / np.where(pmf > 0, pmf, 1.0)
            off = ~np.eye(4, dtype=bool)
            assert np.abs(wrong_ratio - exact)[off].max() > 0.05
    # for an involution (a single swap) both mappings agree
    p_inv = np.array([0.2, 0.1, 0.3, 0.4])
    order, _ = stop_probabilities(p_inv)
    a_mat = np.eye(4)[order]
    pmf = stick_pair_pmf(p_inv, Copula.DIRICHLET, 3)
    sorted_pmf = pmf[np.ix_(order, order)]
    assert np.array_equal(a_mat @ sorted_pmf @ a_mat.T, pmf)


@pytest.mark.parametrize("copula,n,p", list(_tuple_cases()))
def test_tuple_pmf_margins(copula, n, p):
    pmf = stick_tuple_pmf(p, copula, n)
    k_cats = len(p)
    assert pmf.shape == (k_cats,) * n and pmf.dtype == np.float64
    assert np.all(pmf >= 0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-13)
    axes = tuple(range(n))
    for i in range(n):
        assert np.allclose(pmf.sum(axis=axes[:i] + axes[i + 1 :]), p, rtol=0, atol=1e-13)
    pair = stick_pair_pmf(p, copula, n)
    for i, j in itertools.combinations(range(n), 2):
        marginal = pmf.sum(axis=tuple(a for a in axes if a not in (i, j)))
        assert np.allclose(marginal, pair, rtol=0, atol=1e-13)
    # exchangeable: invariant under permuting the samples
    for perm in itertools.permutations(range(n)):
        assert np.allclose(np.transpose(pmf, perm), pmf, rtol=0, atol=1e-16)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("p", PROBS)
def test_tuple_pmf_independent_is_product(n, p):
    pmf = stick_tuple_pmf(p, Copula.INDEPENDENT, n)
    product = np.ones(())
    for _ in range(n):
        product = np.multiply.outer(product, np.asarray(p))
    assert np.allclose(pmf, product, rtol=0, atol=1e-15)


def test_tuple_pmf_gaussian_at_two_samples_is_countermonotone():
    # n = 2: Gaussian (ρ = −1) and Dirichlet are both countermonotone
    assert np.allclose(
        stick_tuple_pmf([0.4, 0.1, 0.2, 0.3], Copula.GAUSSIAN, 2),
        stick_tuple_pmf([0.4, 0.1, 0.2, 0.3], Copula.DIRICHLET, 2),
        rtol=0,
        atol=1e-15,
    )


@pytest.mark.parametrize("n", [3, 5])
def test_tuple_pmf_gaussian_matches_sampled_tuples(n):
    """n ≥ 3: the Fourier-integral orthants against 4·10⁵ tuples of the plain NumPy sampler."""
    p = np.array([0.4, 0.1, 0.2, 0.3])
    pmf = stick_tuple_pmf(p, Copula.GAUSSIAN, n)
    count = 400_000
    z = sample_stick_tuples(p, Copula.GAUSSIAN, n, count, np.random.default_rng(11 + n))
    flat = np.ravel_multi_index(tuple(z.T), (4,) * n)
    frequency = np.bincount(flat, minlength=4**n) / count
    se = np.sqrt(pmf.ravel() * (1 - pmf.ravel()) / count)
    z_scores = (frequency - pmf.ravel())[se > 0] / se[se > 0]
    assert np.abs(z_scores).max() < 5.5  # 4^n cells: Bonferroni-sized bound
    assert np.all(frequency[pmf.ravel() == 0] == 0)


def test_tuple_pmf_is_fast():
    import time

    start = time.perf_counter()
    pmf = stick_tuple_pmf([0.05, 0.1, 0.15, 0.2, 0.2, 0.3], Copula.DIRICHLET, 4)
    assert time.perf_counter() - start < 1.0
    assert pmf.sum() == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize("bad", [[0.5, 0.6], [0.0, 1.0], [[0.5, 0.5]], [np.nan, 1.0]])
def test_invalid_probabilities_rejected(bad):
    with pytest.raises(ValueError):
        stick_pair_pmf(bad, Copula.DIRICHLET, 3)


def test_invalid_sample_count_rejected():
    with pytest.raises(ValueError):
        stick_pair_pmf([0.5, 0.5], Copula.DIRICHLET, 1)


def _assert_within(freq, prob, count):
    freq, prob = np.asarray(freq), np.asarray(prob)
    impossible = prob == 0.0  # e.g. Dirichlet lower-tail exclusivity: P(a, a) = 0
    assert np.all(freq[impossible] == 0.0)
    se = np.sqrt(prob * (1 - prob) / count)[~impossible]
    z = np.abs(freq - prob)[~impossible] / se
    assert np.all(z <= Z_MAX), f"max |z| = {z.max():.2f}"


@pytest.mark.parametrize("p", [[0.4, 0.1, 0.2, 0.3], [0.7, 0.2, 0.07, 0.03]])
@pytest.mark.parametrize("copula", [Copula.DIRICHLET, Copula.GAUSSIAN, Copula.INDEPENDENT])
def test_monte_carlo_pairs_match_exact(copula, p):
    n, count, k_cats = 3, 200_000, len(p)
    rng = np.random.default_rng(20240611 + int(copula))
    z = sample_stick_tuples(p, copula, n, count, rng)
    assert z.shape == (count, n) and z.dtype == np.int64
    exact = stick_pair_pmf(p, copula, n)
    for i, j in [(0, 1), (1, 2)]:  # each ordered pair on its own: binomial SE per cell
        freq = np.bincount(z[:, i] * k_cats + z[:, j], minlength=k_cats * k_cats).reshape(k_cats, k_cats) / count
        _assert_within(freq, exact, count)
    for i in range(n):
        _assert_within(np.bincount(z[:, i], minlength=k_cats) / count, np.asarray(p), count)


@pytest.mark.parametrize("p", [[0.4, 0.1, 0.2, 0.3], [0.7, 0.2, 0.07, 0.03]])
def test_monte_carlo_tuples_match_exact_dirichlet(p):
    n, count, k_cats = 3, 200_000, len(p)
    z = sample_stick_tuples(p, Copula.DIRICHLET, n, count, np.random.default_rng(77))
    exact = stick_tuple_pmf(p, Copula.DIRICHLET, n).ravel()
    freq = np.bincount(np.ravel_multi_index(z.T, (k_cats,) * n), minlength=k_cats**n) / count
    top = np.argsort(exact)[::-1][:20]  # the 20 most likely tuples
    _assert_within(freq[top], exact[top], count)
    # tuples of probability 0 (lower-tail exclusivity of the Dirichlet copula) never occur
    assert np.all(freq[exact == 0.0] == 0.0)
