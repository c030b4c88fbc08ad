"""Every Construction and Weighting member has a branch in every implementation.

The implementations are the kernel (``kernels/trial.py``, whose :data:`KERNEL_PAIRS` the plan
checks and whose source must name every member it lists), the NumPy backend, the naive test
reference, the exact oracle (or a declared reason it cannot compute a member) and the plan's
layout tables. The second half shows that each check fails on a forgotten branch.
"""

import ast
import inspect
from enum import IntEnum

import numpy as np
import pytest

from carms_cli.discrete import plan as plan_module
from carms_cli.discrete.dispatch import MissingBranch, branch, missing
from carms_cli.discrete.estimators import EstimatorSpec, Weighting
from carms_cli.discrete.estimators.requirements import MaxCategories
from carms_cli.discrete.exact import moments
from carms_cli.discrete.exact.pmf import NotComputable
from carms_cli.discrete.kernels import numpy_backend, trial
from carms_cli.discrete.plan import build_plan
from carms_cli.discrete.problem import build_problem
from carms_cli.discrete.registry import ESTIMATORS, applicable
from carms_cli.discrete.sampling.samplers import SAMPLERS, Construction
from tests import naive


def kernel_weightings(pairs) -> dict:
    """The kernel table seen per weighting: weighting → the constructions it runs on."""
    out: dict = {}
    for construction, weightings in pairs.items():
        for weighting in weightings:
            out.setdefault(weighting, []).append(construction)
    return out


#: (implementation, enum, table) for every dispatch table of every implementation.
TABLES = [
    ("kernel", Construction, trial.KERNEL_PAIRS),
    ("kernel", Weighting, kernel_weightings(trial.KERNEL_PAIRS)),
    ("numpy draws", Construction, numpy_backend.DRAWS),
    ("numpy estimates", Weighting, numpy_backend.ESTIMATES),
    ("naive samples", Construction, naive.SAMPLES),
    ("naive estimates", Weighting, naive.ESTIMATES),
    ("oracle tuple pmfs", Construction, moments.TUPLE_PMFS),
    ("oracle", Weighting, moments.WEIGHTINGS),
    ("plan tuples", Construction, plan_module.TUPLES_PER_SET),
    ("plan draws", Construction, plan_module.TUPLE_DRAWS),
    ("plan tables", Construction, plan_module.CONSTRUCTION_TABLES),
]


def kernel_branches(source: str) -> dict[str, set[str]]:
    """Names compared with ``construction`` and ``weighting`` (``x == NAME``) anywhere in ``source``."""
    named: dict[str, set[str]] = {"construction": set(), "weighting": set()}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id in named:
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.Eq) and isinstance(right, ast.Name):
                    named[node.left.id].add(right.id)
    return named


def unbranched(source: str, pairs) -> list[str]:
    """Members listed in the kernel table that the kernel source never branches on."""
    named = kernel_branches(source)
    gaps = [f"Construction.{c.name}" for c in pairs if c.name not in named["construction"]]
    listed = kernel_weightings(pairs)
    return gaps + [f"Weighting.{w.name}" for w in listed if w.name not in named["weighting"]]


def extended(enum: type[IntEnum]) -> type[IntEnum]:
    """``enum`` with one more member, NEW: what adding an estimator without its branches looks like."""
    members = [(m.name, int(m)) for m in enum] + [("NEW", max(int(m) for m in enum) + 1)]
    return IntEnum(enum.__name__, members)


def tiny_problem(categories=3, samples=3):
    return build_problem(categories=categories, samples=samples, trials=8, seed=1, objective="table")


# --- every member, every implementation ----------------------------------------------------------


@pytest.mark.parametrize(("where", "enum", "table"), TABLES, ids=[f"{w}-{e.__name__}" for w, e, _ in TABLES])
def test_every_member_has_a_branch(where, enum, table):
    assert missing(table, enum) == [], f"{where} lacks branches"


def test_the_kernel_source_branches_on_every_member_its_table_lists():
    assert unbranched(inspect.getsource(trial), trial.KERNEL_PAIRS) == []


def test_the_kernel_codes_are_the_enums_values():
    for enum in (Construction, Weighting):
        for member in enum:
            assert getattr(trial, member.name) == int(member)


def test_every_registered_estimator_and_the_sampler_probe_have_a_kernel_pair():
    for spec in ESTIMATORS.values():
        assert spec.weighting in trial.KERNEL_PAIRS[spec.sampler.construction], spec.name
    for sampler in SAMPLERS:  # engine.sample_sets probes every sampler with the score weighting
        assert Weighting.SCORE in trial.KERNEL_PAIRS[sampler.construction], sampler.name


def test_every_weighting_and_construction_is_registered():
    assert {spec.weighting for spec in ESTIMATORS.values()} == set(Weighting)
    assert {spec.sampler.construction for spec in ESTIMATORS.values()} == set(Construction)


def test_the_oracle_declares_a_reason_for_what_it_cannot_compute():
    for table in (moments.WEIGHTINGS, moments.TUPLE_PMFS):
        for member, how in table.items():
            assert callable(how) or (isinstance(how, str) and how), member
    problem = tiny_problem()
    for spec in ESTIMATORS.values():
        reason = moments.WEIGHTINGS[spec.weighting]
        if isinstance(reason, str):
            with pytest.raises(NotComputable, match=reason[:20]):
                moments.exact_moments(problem, spec)


def test_applicability_is_declared_on_the_spec_not_in_the_registry():
    spec = EstimatorSpec("few", "", SAMPLERS[0], Weighting.SCORE, True, "", requires=(MaxCategories(3, "a test"),))
    assert applicable(spec, 3, 4) is None
    assert applicable(spec, 4, 4) == "estimator 'few' is limited to K <= 3 (a test), got K=4"
    assert "Construction" not in inspect.getsource(applicable)


# --- each check fails on a forgotten branch -----------------------------------------------------


@pytest.mark.parametrize(("where", "enum", "table"), TABLES, ids=[f"{w}-{e.__name__}" for w, e, _ in TABLES])
def test_a_new_member_without_a_branch_is_reported(where, enum, table):
    assert missing(table, extended(enum)) == ["NEW"]


def test_a_kernel_branch_turned_into_a_fallthrough_is_reported():
    source = inspect.getsource(trial)
    assert "elif weighting == IMPORTANCE:" in source
    assert unbranched(source.replace("elif weighting == IMPORTANCE:", "else:"), trial.KERNEL_PAIRS) == [
        "Weighting.IMPORTANCE"
    ]


def test_the_plan_refuses_a_pair_the_kernel_has_no_branch_for(monkeypatch):
    pairs = dict(trial.KERNEL_PAIRS)
    pairs[Construction.INVERSE] = (Weighting.SCORE, Weighting.LEAVE_ONE_OUT)
    monkeypatch.setattr(trial, "KERNEL_PAIRS", pairs)
    with pytest.raises(MissingBranch, match="IMPORTANCE on Construction.INVERSE"):
        build_plan(tiny_problem(), ESTIMATORS["carms"])
    build_plan(tiny_problem(), ESTIMATORS["loorf"])


def test_the_plan_refuses_a_weighting_on_a_construction_it_was_not_written_for():
    arm_on_inverse = EstimatorSpec("arm-on-inverse", "", SAMPLERS[0], Weighting.ARM, True, "")
    with pytest.raises(MissingBranch, match="ARM on Construction.INVERSE"):
        build_plan(tiny_problem(categories=2, samples=4), arm_on_inverse)


@pytest.mark.parametrize(
    ("module", "name", "member", "call"),
    [
        (numpy_backend, "ESTIMATES", Weighting.IMPORTANCE, lambda plan, spec: numpy_backend.simulate(plan, 0, 4)),
        (numpy_backend, "COEFFICIENTS", Weighting.IMPORTANCE, lambda plan, spec: numpy_backend.simulate(plan, 0, 4)),
        (numpy_backend, "DRAWS", Construction.INVERSE, lambda plan, spec: numpy_backend.simulate(plan, 0, 4)),
        (naive, "ESTIMATES", Weighting.IMPORTANCE, lambda plan, spec: naive.naive_estimate(plan, spec, None, None, 0)),
        (naive, "SAMPLES", Construction.INVERSE, lambda plan, spec: naive.naive_samples(plan, spec, 0)),
        (moments, "WEIGHTINGS", Weighting.IMPORTANCE, lambda plan, spec: moments.exact_moments(tiny_problem(), spec)),
        (moments, "TUPLE_PMFS", Construction.INVERSE, lambda plan, spec: moments.exact_moments(tiny_problem(), spec)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_host_table_without_a_member_raises_instead_of_falling_through(monkeypatch, module, name, member, call):
    """With CARMS's branch removed, each host implementation raises (before, the last ``else`` ran
    the importance formula for any weighting it did not know)."""
    plan = build_plan(tiny_problem(), ESTIMATORS["carms"])
    table = {key: value for key, value in getattr(module, name).items() if key != member}
    monkeypatch.setattr(module, name, table)
    with pytest.raises(MissingBranch, match=member.name):
        call(plan, ESTIMATORS["carms"])


def test_branch_names_the_implementation_and_member():
    with pytest.raises(MissingBranch, match="^somewhere has no branch for Weighting.UNORD$"):
        branch({Weighting.SCORE: 1}, Weighting.UNORD, "somewhere")
    assert branch({Weighting.SCORE: 1}, np.int64(0), "somewhere") == 1
