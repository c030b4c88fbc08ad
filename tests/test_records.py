"""Command records built by the library, without the CLI: frozen, with the fields the JSON writes."""

import dataclasses
import json

import numpy as np
import pytest

from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS, parse_estimators
from carms_cli.present.table import plain_json


def _frozen(record):
    field = dataclasses.fields(record)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, field, None)


def test_exact_record_fields():
    from carms_cli.analysis.exact import SCHEMA, exact_record
    from carms_cli.discrete.exact.moments import MAX_OUTCOMES, exact_moments

    problem = build_problem(probs="0.7,0.2,0.07,0.03", objective="quadratic", samples=3, trials=1, seed=0)
    specs = parse_estimators("loorf,carms,arsm", 4, 3)
    record = exact_record(problem, specs)
    _frozen(record)
    _frozen(record.estimators[0])
    assert record.schema == SCHEMA == "carms-cli/exact/1"
    assert [e.name for e in record.estimators] == ["loorf", "carms", "arsm"]
    assert record.config.max_outcomes == MAX_OUTCOMES and record.config.samples == 3
    np.testing.assert_array_equal(record.config.exact_gradient, problem.exact_gradient())
    loorf, carms, arsm = record.estimators
    moments = exact_moments(problem, ESTIMATORS["carms"])
    assert carms.variance_total == moments.variance_total
    np.testing.assert_array_equal(carms.bias, moments.mean - problem.exact_gradient())
    assert carms.bias_max_abs < 1e-12 and carms.note is None
    assert loorf.variance_ratio_to_loorf == 1.0
    assert carms.variance_ratio_to_loorf == carms.variance_total / loorf.variance_total < 1
    assert arsm.note.startswith("n/a: ") and arsm.variance_total is None and arsm.variance_ratio_to_loorf is None
    assert record.entry("arsm") is arsm
    layout = json.loads(plain_json(record.to_dict()))
    assert list(layout) == ["schema", "config", "estimators"]
    assert list(layout["estimators"][0]) == [
        "name", "unbiased_by_design", "note", "mean", "bias", "bias_max_abs", "variance", "variance_total",
        "median_log_variance", "variance_ratio_to_loorf",
    ]  # fmt: skip


def test_exact_record_without_loorf_has_no_ratios():
    from carms_cli.analysis.exact import exact_record

    problem = build_problem(categories=3, samples=3, trials=1, seed=1)
    record = exact_record(problem, parse_estimators("carms,reinforce", 3, 3))
    assert all(e.variance_ratio_to_loorf is None and e.variance_total > 0 for e in record.estimators)


def test_pmf_record_fields():
    from carms_cli.analysis.pmf import SCHEMA, PairCheck, pmf_record
    from carms_cli.discrete.exact.pmf import pair_pmf
    from carms_cli.discrete.sampling.copulas import Copula
    from carms_cli.discrete.sampling.samplers import Construction, find_sampler

    problem = build_problem(probs="0.4,0.1,0.2,0.3", samples=3, trials=1, seed=2)
    record = pmf_record(problem, construction="stick", copula="dirichlet")
    _frozen(record)
    assert record.schema == SCHEMA == "carms-cli/pmf/1" and record.check is None
    assert (record.config.construction, record.config.copula, record.config.sampler) == (
        "stick",
        "dirichlet",
        "carms-sb-dirichlet",
    )
    sampler = find_sampler(Construction.STICK, Copula.DIRICHLET)
    assert sampler.name == record.config.sampler
    np.testing.assert_array_equal(record.pair_pmf, pair_pmf(sampler, problem.probs[0], 3))
    np.testing.assert_allclose(record.independent_product, np.outer(problem.probs[0], problem.probs[0]))
    assert record.row_sum_max_error < 1e-12
    checked = pmf_record(problem, construction="stick", check=2_000)
    assert isinstance(checked.check, PairCheck) and checked.check.sets == 2_000 and checked.check.backend == "cpu"
    assert checked.check.frequency.shape == (4, 4) and np.all(checked.check.std_error >= 0)
    assert 0 <= checked.check.max_abs_z < 6 and len(checked.check.max_abs_z_at) == 2
    layout = json.loads(plain_json(checked.to_dict()))
    assert list(layout) == [
        "schema", "config", "pair_pmf", "independent_product", "ratio", "row_sum_max_error", "check"
    ]  # fmt: skip
    assert isinstance(layout["check"]["max_abs_z_at"], list)


def test_pmf_record_rejects_a_missing_variable():
    from carms_cli.analysis.pmf import pmf_record
    from carms_cli.core.errors import InputError

    with pytest.raises(InputError, match="--variable must be in 0..0"):
        pmf_record(build_problem(categories=3, samples=2, trials=1), variable=1)


def test_duplicates_record_fields():
    from carms_cli.analysis.duplicates import SCHEMA, duplicates_record
    from carms_cli.discrete.sampling.samplers import ANTITHETIC_PAIRS, GUMBEL_NOISE, SAMPLERS

    problem = build_problem(probs="0.5,0.5;0.2,0.8", samples=4, trials=1, seed=0)
    record = duplicates_record(problem, variable=1, trials=3_000)
    _frozen(record)
    _frozen(record.samplers[0])
    assert record.schema == SCHEMA == "carms-cli/duplicates/1" and record.backend == "cpu"
    np.testing.assert_array_equal(record.config.probs, [0.2, 0.8])
    assert record.config.trials == 3_000 and record.config.samples == 4
    # K = 2, n = 4: the antithetic pairs run; UNORD (n ≤ K) does not; ARSM has no n samples
    assert [entry.sampler for entry in record.samplers] == [s.name for s in (*SAMPLERS, ANTITHETIC_PAIRS, GUMBEL_NOISE)]
    independent = record.samplers[0]
    assert independent.exact_note is None
    # n iid draws from [0.2, 0.8]: P(all distinct) = 0 at n = 4 > K, coincident pairs 6·(0.04 + 0.64)
    assert independent.exact.prob_all_distinct == pytest.approx(0.0)
    assert independent.exact.coincident_pairs == pytest.approx(6 * 0.68)
    assert independent.monte_carlo.sets == 3_000
    assert abs(independent.monte_carlo.mean_unique - independent.exact.mean_unique) < 5 * max(
        independent.monte_carlo.mean_unique_se, 1e-3
    )
    partial = [entry for entry in record.samplers if entry.exact_note]
    assert partial and all(e.exact.mean_unique is None and e.exact.coincident_pairs > 0 for e in partial)
    assert all(list(e.to_dict()["exact"]) == ["coincident_pairs"] for e in partial)
    layout = record.to_dict()
    assert list(layout) == ["schema", "config", "backend", "samplers"]
    assert list(layout["samplers"][0]) == ["sampler", "summary", "exact", "exact_note", "monte_carlo"]


def test_train_record_fields():
    from carms_cli.analysis.train import SCHEMA, Trajectory, train_record

    specs = parse_estimators("loorf,arms", 2, 2)
    calls = []
    record = train_record(
        specs,
        [2, 4],
        p_init=0.1,
        objective="quadratic:0.49",
        lr=20.0,
        steps=5,
        target=0.9,
        replicates=50,
        seed=0,
        threads=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    _frozen(record)
    _frozen(record.config)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert record.schema == SCHEMA == "carms-cli/train/1"
    assert record.config.samples == (2, 4) and record.config.estimators == ("loorf", "arms")
    assert record.config.backend == "cpu" and record.config.threads == 1
    assert [(t.samples, t.estimator) for t in record.trajectories] == [
        (2, "loorf"),
        (2, "arms"),
        (4, "loorf"),
        (4, "arms"),
    ]
    first = record.trajectories[0]
    assert isinstance(first, Trajectory) and len(first.p) == 5 and first.p[0] == pytest.approx(0.1)
    # the exact gradient of (z − 0.49)² w.r.t. φ is p(1 − p)(f(1) − f(0)) = 0.02 p(1 − p)
    assert first.exact_gradient[0] == pytest.approx(0.02 * 0.1 * 0.9)
    assert all(v is not None and v > 0 for v in first.variance_exact)
    summaries = record.summaries()
    assert [s.steps for s in summaries] == [len(t.p) for t in record.trajectories]
    assert summaries[0].variance_ratio_to_loorf == 1.0 and summaries[0].final_p == first.p[-1]
    arms = summaries[1]
    assert arms.variance_ratio_to_loorf == pytest.approx(arms.variance / summaries[0].variance)
    layout = record.to_dict()
    assert list(layout["config"]) == [
        "samples", "estimators", "p_init", "target", "lr", "steps", "replicates", "objective", "seed", "threads",
        "backend",
    ]  # fmt: skip
    assert layout["trajectories"][0]["steps"] == 5


def test_geometric_mean_skips_missing_and_non_positive_values():
    from carms_cli.analysis.train import geometric_mean

    assert geometric_mean([4.0, None, 1.0, 0.0]) == pytest.approx(2.0)
    assert geometric_mean([None, -1.0]) is None


def test_catalogue_fields():
    from carms_cli.analysis.catalogue import COPULA_HELP, SCHEMA, catalogue
    from carms_cli.discrete.objectives import OBJECTIVE_HELP
    from carms_cli.discrete.registry import DEFAULT_ESTIMATORS

    record = catalogue()
    _frozen(record)
    _frozen(record.estimators[0])
    assert record.schema == SCHEMA == "carms-cli/list/1"
    assert [e.name for e in record.estimators] == list(ESTIMATORS)
    assert {e.name for e in record.estimators if e.default} == set(DEFAULT_ESTIMATORS)
    carms = next(e for e in record.estimators if e.name == "carms")
    assert (carms.construction, carms.copula, carms.sampler) == ("inverse", "dirichlet", "carms-i-dirichlet")
    assert carms.unbiased_by_design
    assert [o.name for o in record.objectives] == list(OBJECTIVE_HELP)
    assert [c.name for c in record.copulas] == list(COPULA_HELP)
    layout = record.to_dict()
    assert list(layout) == ["schema", "estimators", "objectives", "copulas", "continuous_estimators",
                            "continuous_objectives"]
    assert list(layout["estimators"][0]) == [
        "name", "summary", "sampler", "construction", "copula", "unbiased_by_design", "default", "reference"
    ]  # fmt: skip
    from carms_cli.continuous import registry as continuous

    assert [e.name for e in record.continuous_estimators] == list(continuous.ESTIMATORS)
    assert {e.name for e in record.continuous_estimators if e.default} == set(continuous.DEFAULT_ESTIMATORS)
    assert list(layout["continuous_estimators"][0]) == [
        "name", "summary", "distributions", "parameters", "min_samples", "default"
    ]  # fmt: skip
