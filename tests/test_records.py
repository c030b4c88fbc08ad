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
