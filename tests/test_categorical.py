"""Order sets, boundaries and the exact pair / tuple pmfs of CARMS-I (spec 9.1, 15)."""

import numpy as np
import pytest

from carms_cli.core.errors import InputError
from carms_cli.discrete.exact.inverse import (
    COMPILED_GAUSSIAN_CELLS,
    binary_order,
    compiled_gaussian_pair_pmf,
    order_boundaries,
    pair_pmf,
    reference_orders,
    tuple_pmf,
    tuple_probabilities,
)
from carms_cli.discrete.plan import importance_ratios
from carms_cli.discrete.sampling.copulas import Copula, bivariate_cdf
from carms_cli.discrete.sampling.samplers import SamplerSpec


def test_reference_orders_match_the_spec():
    as_set = lambda orders: {tuple(o) for o in orders.tolist()}  # noqa: E731
    assert as_set(reference_orders(3)) == {(0, 1, 2), (0, 2, 1), (1, 0, 2)}
    assert as_set(reference_orders(4)) == {
        (0, 1, 2, 3),
        (0, 3, 1, 2),
        (0, 2, 3, 1),
        (2, 0, 1, 3),
        (1, 0, 2, 3),
        (1, 3, 0, 2),
    }
    orders = reference_orders(7)
    assert orders.shape == (21, 7)
    assert all(sorted(o) == list(range(7)) for o in orders.tolist())
    assert 0 not in orders[:, -1]  # category 0 is never last


def test_binary_order_puts_the_rarer_category_first():
    assert binary_order(np.array([0.3, 0.7])).tolist() == [[0, 1]]
    assert binary_order(np.array([0.7, 0.3])).tolist() == [[1, 0]]


def test_boundaries_partition_the_unit_interval():
    p = np.array([0.4, 0.1, 0.2, 0.3])
    left, right = order_boundaries(p, reference_orders(4))
    assert np.allclose(right - left, p)
    assert np.all(right.max(axis=1) == 1.0)  # last boundary forced to exactly 1


@pytest.mark.parametrize("copula", list(Copula))
@pytest.mark.parametrize("n", [2, 3, 4, 8])
@pytest.mark.parametrize("p", [[0.1, 0.2, 0.3, 0.4], [0.4, 0.1, 0.2, 0.3], [0.7, 0.2, 0.07, 0.03], [0.5, 0.5]])
def test_pair_pmf_is_symmetric_with_marginal_p(copula, n, p):
    p = np.asarray(p)
    orders = reference_orders(p.size) if p.size > 2 else binary_order(p)
    joint = pair_pmf(p, orders, copula, n)
    assert np.allclose(joint, joint.T, atol=1e-15)
    assert np.allclose(joint.sum(axis=1), p, atol=1e-14)  # row-sum identity Σ_b P(a,b) = p_a
    off = ~np.eye(p.size, dtype=bool)
    assert np.all(joint[off] > 0)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_tuple_pmf_sums_to_one_and_its_pair_marginal_is_the_pair_pmf(n):
    p = np.array([0.1, 0.2, 0.3, 0.4])
    orders = reference_orders(4)
    joint = tuple_pmf(p, orders, Copula.DIRICHLET, n)
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(joint >= 0)
    pair = joint.sum(axis=tuple(range(2, n)))
    assert np.allclose(pair, pair_pmf(p, orders, Copula.DIRICHLET, n), atol=1e-14)
    for axis in range(n):  # exchangeable: every sample has marginal p
        others = tuple(a for a in range(n) if a != axis)
        assert np.allclose(joint.sum(axis=others), p, atol=1e-13)


@pytest.mark.parametrize("copula", [Copula.DIRICHLET, Copula.INDEPENDENT])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_tuple_probabilities_are_the_tuple_pmf_at_those_tuples(copula, n):
    p = np.array([0.05, 0.25, 0.3, 0.4])
    orders = reference_orders(4)
    joint = tuple_pmf(p, orders, copula, n)
    tuples = np.random.default_rng(n).integers(0, 4, size=(50, n))
    got = tuple_probabilities(p, orders, copula, n, tuples)
    assert np.allclose(got, joint[tuple(tuples.T)], rtol=1e-12, atol=1e-16)


def test_gaussian_and_dirichlet_coincide_at_two_samples():
    p = np.array([0.2, 0.5, 0.3])
    orders = reference_orders(3)
    assert np.allclose(pair_pmf(p, orders, Copula.GAUSSIAN, 2), pair_pmf(p, orders, Copula.DIRICHLET, 2), atol=1e-15)


def test_a_pair_that_can_never_be_drawn_together_is_an_error():
    # One fixed order and countermonotone samples: categories 0 and 1 both sit in the lower
    # half of [0, 1], so U and 1 − U can never land in them together.
    sampler = SamplerSpec("fixed", Copula.DIRICHLET, "identity", 9, "one order")
    p = np.array([0.2, 0.2, 0.6])
    joint = pair_pmf(p, np.array([[0, 1, 2]]), Copula.DIRICHLET, 2)
    assert joint[0, 1] == 0.0
    with pytest.raises(InputError, match="never draw categories 0 and 1 together"):
        importance_ratios(p, joint, sampler, 0)


def _rectangle_pair_pmf(p, orders, copula, n):
    """Independent check: four copula CDFs per rectangle, one order and one pair at a time."""
    left, right = order_boundaries(p, orders)
    joint = np.zeros((p.size, p.size))
    for lo, hi in zip(left, right, strict=True):
        for a in range(p.size):
            for b in range(p.size):
                cdf = lambda u, v: float(bivariate_cdf(copula, n, u, v))  # noqa: E731
                box = cdf(hi[a], hi[b]) - cdf(lo[a], hi[b]) - cdf(hi[a], lo[b]) + cdf(lo[a], lo[b])
                joint[a, b] += max(box, 0.0)
    return joint / orders.shape[0]


@pytest.mark.parametrize("copula", list(Copula))
@pytest.mark.parametrize("k,n", [(3, 3), (5, 4), (9, 7), (6, 2)])
def test_pair_pmf_matches_rectangles_one_at_a_time(copula, k, n):
    """The batched grids (and the compiled Gaussian kernel) against per-rectangle CDF calls."""
    p = np.random.default_rng(k + n).dirichlet(np.ones(k))
    orders = reference_orders(k)
    np.testing.assert_allclose(
        pair_pmf(p, orders, copula, n), _rectangle_pair_pmf(p, orders, copula, n), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("k,n", [(3, 3), (9, 4), (16, 5)])
def test_compiled_gaussian_pair_pmf_matches_numpy_grids(k, n):
    p = np.random.default_rng(k).dirichlet(np.ones(k))
    orders = reference_orders(k)
    assert orders.shape[0] * (k + 1) ** 2 < COMPILED_GAUSSIAN_CELLS  # pair_pmf takes the NumPy path here
    np.testing.assert_allclose(
        compiled_gaussian_pair_pmf(p, orders, n), pair_pmf(p, orders, Copula.GAUSSIAN, n), rtol=0, atol=1e-16
    )


def test_gaussian_pair_pmf_is_the_same_on_any_thread_count():
    import numba

    p = np.random.default_rng(3).dirichlet(np.ones(24))
    orders = reference_orders(24)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = pair_pmf(p, orders, Copula.GAUSSIAN, 4)
        numba.set_num_threads(before)
        assert np.array_equal(one, pair_pmf(p, orders, Copula.GAUSSIAN, 4))
    finally:
        numba.set_num_threads(before)
