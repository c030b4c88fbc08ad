"""Issue-3 capabilities: the whole CARMS family, reference-faithful bias, pmf / duplicates /
list / exact commands."""

import numpy as np
import pytest

from carms_cli.analysis.duplicates import DUPLICATE_SAMPLERS
from carms_cli.discrete.exact.duplicates import exact_duplicates, sampled_duplicates
from carms_cli.discrete.exact.moments import NotComputable, exact_moments
from carms_cli.discrete.exact.pmf import pair_pmf, tuple_pmf
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import DEFAULT_ESTIMATORS, ESTIMATORS
from carms_cli.discrete.sampling.copulas import Copula
from carms_cli.discrete.sampling.samplers import SAMPLERS, Construction
from carms_cli.discrete.source import sample_sets
from tests.conftest import skip_unless_applicable

Z_MAX = 5.0
SKEWED = "0.7,0.2,0.07,0.03"
SKEWED_VALUES = "3,-1,2,0.5"


@pytest.fixture(scope="module")
def skewed_values_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("objective") / "f.csv"
    path.write_text(SKEWED_VALUES + "\n")
    return path


def test_every_construction_and_copula_is_registered_with_a_consistent_name():
    family = {
        (s.sampler.construction, s.sampler.copula): name
        for name, s in ESTIMATORS.items()
        if name.startswith("carms") and s.unbiased_by_design
    }
    assert len(family) == 9
    prefix = {Construction.INVERSE: "carms", Construction.GUMBEL: "carms-g", Construction.STICK: "carms-sb"}
    suffix = {Copula.DIRICHLET: "", Copula.GAUSSIAN: "-gauss", Copula.INDEPENDENT: "-indep"}
    for (construction, copula), name in family.items():
        assert name == prefix[construction] + suffix[copula]
    assert set(DEFAULT_ESTIMATORS) <= set(ESTIMATORS)
    assert not ESTIMATORS["carms-ref"].unbiased_by_design and not ESTIMATORS["carms-g-ref"].unbiased_by_design


@pytest.mark.parametrize("name", [n for n, s in ESTIMATORS.items() if s.unbiased_by_design])
@pytest.mark.parametrize(
    "config",
    [
        dict(categories=3, samples=3, dims=2, seed=6, objective="pairwise"),
        dict(probs="0.4,0.1,0.2,0.3", samples=4, seed=1, objective="table"),
        dict(probs="0.4,0.1,0.2,0.3", samples=2, seed=2, objective="table"),
    ],
    ids=["K3D2", "K4n4", "K4n2"],
)
def test_exact_mean_by_enumeration_where_computable(name, config):
    problem = build_problem(**config)
    skip_unless_applicable(ESTIMATORS[name], problem)
    try:
        moments = exact_moments(problem, ESTIMATORS[name])
    except NotComputable:
        pytest.skip("no closed-form joint pmf for this sampler here")
    assert moments.probability_total == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(moments.mean, problem.exact_gradient(), rtol=0, atol=1e-12)


def test_enumeration_covers_the_computable_samplers():
    problem = build_problem(probs="0.4,0.1,0.2,0.3", samples=3)
    computable = []
    for name, spec in ESTIMATORS.items():
        if spec.binary_only:
            continue
        try:
            exact_moments(problem, spec)
            computable.append(name)
        except NotComputable:
            pass
    assert {"carms", "carms-sb", "carms-indep", "carms-g-indep", "carms-sb-indep", "carms-ref"} <= set(computable)
    assert {"carms-gauss", "carms-sb-gauss"} <= set(computable)
    assert not {"carms-g", "carms-g-gauss"} & set(computable)  # n-dimensional integrals (n = 3 here)


def test_reference_variants_are_biased_and_exact_versions_are_not(cli, skewed_values_file):
    """p = [.7, .2, .07, .03], f = [3, −1, 2, .5], n = 3: the reference ratio biases coordinate 2 by
    32% (exact: +0.00125 on −0.00385), z ≈ 8.6 at 10^6 trials; CARMS-G with its per-call Monte
    Carlo pmf is biased everywhere (z ≈ 10 at 10^5 trials)."""
    common = ["variance", "--probs", SKEWED, "-o", f"file:{skewed_values_file}", "-n", 3, "--json", "-"]
    record = cli(*common, "-t", 1_000_000, "-e", "carms-ref,carms,carms-sb").json()
    by_name = {e["name"]: e for e in record["estimators"]}
    assert by_name["carms-ref"]["unbiased"] is False
    assert abs(by_name["carms-ref"]["bias_z"][0][2]) > Z_MAX
    for name in ("carms", "carms-sb"):
        assert by_name[name]["unbiased"] is True
    record = cli(*common, "-t", 100_000, "-e", "carms-g-ref,carms-g").json()
    by_name = {e["name"]: e for e in record["estimators"]}
    assert by_name["carms-g-ref"]["bias_max_abs_z"] > Z_MAX and by_name["carms-g-ref"]["unbiased"] is False
    assert by_name["carms-g"]["unbiased"] is True


def test_reference_ratio_bias_is_exact_in_the_exact_command(cli, skewed_values_file):
    record = cli(
        "exact", "--probs", SKEWED, "-o", f"file:{skewed_values_file}", "-n", 3, "-e", "carms,carms-ref", "--json", "-"
    ).json()
    by_name = {e["name"]: e for e in record["estimators"]}
    assert by_name["carms"]["bias_max_abs"] < 1e-12
    assert np.asarray(by_name["carms-ref"]["bias"])[0, 2] == pytest.approx(0.00124889, rel=1e-4)


@pytest.mark.parametrize("sampler", DUPLICATE_SAMPLERS, ids=lambda s: s.name)
def test_exact_duplicates_match_sampled_ones(sampler):
    """Every sampler with samples: exact statistics (n-tuple pmf, or closed form) against its sets."""
    p = np.array([0.7, 0.3]) if sampler.construction == Construction.PAIRS else np.array([0.4, 0.1, 0.2, 0.3])
    n = 4 if sampler.construction == Construction.PAIRS else 3
    z = np.concatenate(list(sample_sets(sampler, p, n, 40_000, seed=4)))
    mc = sampled_duplicates(z)
    try:
        exact = exact_duplicates(sampler, p, n)
    except NotComputable:
        assert sampler.construction == Construction.GUMBEL and sampler.copula != Copula.INDEPENDENT
        exact = None
    if sampler.construction in (Construction.PAIRS, Construction.SUBSETS, Construction.RELAXED):
        pairs = exact.coincident_pairs  # no pair pmf of the copula kind: the closed forms only
    else:
        pairs = n * (n - 1) / 2 * np.trace(pair_pmf(sampler, p, n))
    assert abs(mc.coincident_pairs - pairs) <= Z_MAX * mc.coincident_pairs_se + 1e-12
    if exact is not None:
        assert exact.coincident_pairs == pytest.approx(pairs, abs=1e-12)
        assert abs(mc.mean_unique - exact.mean_unique) <= Z_MAX * mc.mean_unique_se + 1e-12
        assert abs(mc.prob_all_distinct - exact.prob_all_distinct) <= Z_MAX * mc.prob_all_distinct_se + 1e-12


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s.name)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_exact_duplicates_over_multisets_equal_the_whole_tuple_enumeration(sampler, n):
    """One sorted tuple per multiset, weighted by its orderings, gives the statistics that the
    definition gives over all K^n tuples of the sampler's pmf."""
    p = np.array([0.4, 0.1, 0.2, 0.3])
    try:
        joint = tuple_pmf(sampler, p, n)
    except NotComputable:
        return
    tuples = np.indices(joint.shape).reshape(n, -1).T
    flat = joint.reshape(-1)
    distinct = np.array([len(set(t)) for t in tuples])
    coincident = np.array([sum(t[i] == t[j] for i in range(n) for j in range(i + 1, n)) for t in tuples])
    exact = exact_duplicates(sampler, p, n)
    assert exact.mean_unique == pytest.approx(flat @ distinct, abs=1e-13)
    assert exact.prob_all_distinct == pytest.approx(flat @ (distinct == n), abs=1e-13)
    assert exact.coincident_pairs == pytest.approx(flat @ coincident, abs=1e-13)


def test_tuple_pmf_dispatch():
    p = np.array([0.4, 0.1, 0.2, 0.3])
    for sampler in SAMPLERS:
        try:
            joint = tuple_pmf(sampler, p, 3)
        except NotComputable:
            continue
        assert joint.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.allclose(joint.sum(axis=(1, 2)), p, atol=1e-12)


def test_pmf_command_json_and_check(cli):
    record = cli(
        "pmf", "--probs", "0.4,0.1,0.2,0.3", "-n", 3, "--construction", "stick", "--check", 50_000, "--json", "-"
    ).json()
    assert record["schema"] == "carms-cli/pmf/1"
    joint = np.asarray(record["pair_pmf"])
    assert np.allclose(joint.sum(axis=1), [0.4, 0.1, 0.2, 0.3], atol=1e-13)
    assert record["check"]["max_abs_z"] <= Z_MAX
    ratio = np.asarray(record["ratio"])
    p = np.array([0.4, 0.1, 0.2, 0.3])
    off = ~np.eye(4, dtype=bool)
    assert np.allclose(ratio[off], np.outer(p, p)[off] / joint[off])
    table = cli("pmf", "--probs", "0.1,0.2,0.3,0.4", "-n", 3)
    assert table.code == 0 and "w(a,b)" in table.out


@pytest.mark.parametrize("construction", ["inverse", "gumbel", "stick"])
@pytest.mark.parametrize("copula", ["dirichlet", "gaussian", "independent"])
def test_pmf_command_every_sampler(cli, construction, copula):
    record = cli(
        "pmf",
        "--probs",
        "0.5,0.3,0.2",
        "-n",
        3,
        "--construction",
        construction,
        "--copula",
        copula,
        "--check",
        20_000,
        "--json",
        "-",
    ).json()
    assert record["row_sum_max_error"] < 1e-9
    assert record["check"]["max_abs_z"] <= Z_MAX


def test_duplicates_command(cli):
    record = cli("duplicates", "--probs", "0.4,0.1,0.2,0.3", "-n", 3, "-t", 20_000, "--json", "-").json()
    assert record["schema"] == "carms-cli/duplicates/1"
    names = [s["sampler"] for s in record["samplers"]]
    assert names == [s.name for s in SAMPLERS] + ["without-replacement", "gumbel-noise"]  # no pairs at K = 4
    for entry in record["samplers"]:
        mc = entry["monte_carlo"]
        exact = entry["exact"]
        if "mean_unique" in exact:
            assert abs(mc["mean_unique"] - exact["mean_unique"]) <= Z_MAX * mc["mean_unique_se"]
        else:
            assert entry["exact_note"].startswith("n/a")
    table = cli("duplicates", "-k", 5, "-n", 3, "-t", 5_000)
    assert table.code == 0 and "carms-sb-dirichlet" in table.out


def test_list_command(cli):
    record = cli("list", "--json", "-").json()
    names = [e["name"] for e in record["estimators"]]
    assert names == list(ESTIMATORS)
    flags = {e["name"]: e["unbiased_by_design"] for e in record["estimators"]}
    assert flags["carms-ref"] is False and flags["carms"] is True
    assert {o["name"] for o in record["objectives"]} >= {"linear", "pairwise"}
    assert [c["name"] for c in record["copulas"]] == ["independent", "dirichlet", "gaussian"]
    table = cli("list")
    assert table.code == 0 and "carms-g-ref" in table.out


def test_variance_exact_option(cli):
    record = cli(
        "variance",
        "--probs",
        "0.4,0.1,0.2,0.3",
        "-n",
        3,
        "-t",
        200_000,
        "--exact",
        "-e",
        "loorf,carms,carms-sb,carms-g",
        "--json",
        "-",
    ).json()
    by_name = {e["name"]: e for e in record["estimators"]}
    for name in ("loorf", "carms", "carms-sb"):
        entry = by_name[name]
        assert np.asarray(entry["variance_exact"]).shape == (1, 4)
        assert entry["variance_exact_z_max"] <= Z_MAX
        assert entry["bias_exact_max_abs"] < 1e-12
    assert by_name["carms-g"]["variance_exact"] is None
    assert by_name["carms-g"]["exact_note"].startswith("n/a")


def test_size_cap_is_an_error_not_a_hang(cli):
    result = cli("variance", "-k", 300, "-e", "carms")
    assert result.code == 2 and "about K <= 130" in result.err


def test_sampled_duplicate_counts_stream_in_flat_memory():
    """Issue 19, item 2: the Monte Carlo duplicate statistics are value counts fed batch by batch
    (bounded by n², whatever the number of sets), equal to the statistics of all sets at once."""
    from carms_cli.discrete.exact.duplicates import SampledCounts

    rng = np.random.default_rng(3)
    z = rng.integers(0, 4, size=(30_000, 5))
    counts = SampledCounts()
    for batch in np.array_split(z, 7):
        counts.add(batch)
    assert all(len(histogram) <= 5 * 5 for histogram in counts._histograms)
    got = counts.statistics()
    distinct = np.array([len(set(row)) for row in z], dtype=float)
    pairs = np.array([sum(row[i] == row[j] for i in range(5) for j in range(i + 1, 5)) for row in z], dtype=float)
    assert got.mean_unique == distinct.mean() and got.coincident_pairs == pairs.mean()
    assert got.prob_all_distinct == (distinct == 5).mean()
    assert got.mean_unique_se == pytest.approx(distinct.std(ddof=1) / np.sqrt(len(z)), rel=1e-12)
    assert got.coincident_pairs_se == pytest.approx(pairs.std(ddof=1) / np.sqrt(len(z)), rel=1e-12)
