"""The kernel ABI is named: both kernels' signatures list :class:`KernelArgs`' fields in order.

``KernelArgs`` is the plan's fields followed by ``sum_p2``, ``sum_pg``, ``sum_g2``; the CPU driver
passes it as ``*args`` after ``start, stop``, the CUDA kernel takes it after its four chunk
arguments and hands it on to ``simulate_chunk`` one by one. The buffers every call has travel in
the bundles :class:`Scratch` and :class:`Outputs`: the CPU driver and the CUDA launcher build them
by keyword, the CUDA kernel builds each chunk's row bundle positionally from the same fields, and
the kernel reads each field by name. The CUDA module is read as source, so these checks run
without numba-cuda.
"""

import ast
import inspect
from pathlib import Path

from carms_cli.discrete.kernels import cpu, trial
from carms_cli.discrete.kernels.args import KernelArgs, Outputs, Scratch
from carms_cli.discrete.plan import Plan

KERNELS = Path(trial.__file__).resolve().parent
FIELDS = list(KernelArgs._fields)
#: simulate_chunk's parameters after the kernel args: the bundles, then what a specialisation
#: may leave out (None) as plain parameters, which numba can prune on
AFTER_FIELDS = ["scratch", "sample", "dense", "work", "iwork", "out", "record", "fixed_samples", "fixed_dims"]
BUNDLES = {"Scratch": Scratch, "Outputs": Outputs}


def _function(path: Path, name: str) -> ast.FunctionDef:
    tree = ast.parse(path.read_text())
    return next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name)


def _calls(function: ast.FunctionDef, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


def _passed(argument: ast.expr) -> str:
    """The name an argument passes, through ``unwrap(x)`` and ``x[row]``; ``*x`` as ``*x``."""
    if isinstance(argument, ast.Starred):
        return "*" + _passed(argument.value)
    if isinstance(argument, ast.Call) and isinstance(argument.func, ast.Name) and argument.func.id == "unwrap":
        return _passed(argument.args[0])
    if isinstance(argument, ast.Subscript):
        return _passed(argument.value)
    if isinstance(argument, ast.Name):
        return argument.id
    return ast.unparse(argument)


def test_kernel_args_are_the_plan_fields_then_the_three_sums():
    assert FIELDS == [*Plan._fields, "sum_p2", "sum_pg", "sum_g2"]


def test_the_cpu_kernel_lists_the_kernel_args_in_order():
    names = list(inspect.signature(trial.simulate_chunk.py_func).parameters)
    assert names[:2] == ["start", "stop"]
    assert names[2 : 2 + len(FIELDS)] == FIELDS


def test_the_cpu_driver_passes_kernel_args_whole_after_start_and_stop():
    (call,) = _calls(_function(Path(cpu.__file__), "run_chunks"), "simulate_chunk")
    assert [_passed(a) for a in call.args[:3]] == ["start", "stop", "*args"]


def test_the_cuda_kernel_lists_the_kernel_args_in_order():
    function = _function(KERNELS / "cuda.py", "run_chunks_cuda")
    names = [a.arg for a in function.args.args]
    assert names[:4] == ["first_trial", "n_chunks", "chunk_size", "last_trial"]
    assert names[4 : 4 + len(FIELDS)] == FIELDS


def test_the_cuda_kernel_hands_every_argument_on_in_the_cpu_kernels_order():
    function = _function(KERNELS / "cuda.py", "run_chunks_cuda")
    (call,) = _calls(function, "simulate_chunk")
    passed = [_passed(a) for a in call.args]
    expected = list(inspect.signature(trial.simulate_chunk.py_func).parameters)
    assert passed[: 2 + len(FIELDS)] == expected[: 2 + len(FIELDS)]
    # then each chunk's own row bundles and buffers, and no fixed sizes on the GPU
    assert passed[2 + len(FIELDS) :] == [
        "scratch_row", "sample", "dense", "work", "iwork", "out_row", "record", "None", "None"
    ]


def test_the_cpu_kernel_takes_the_bundles_after_the_kernel_args():
    names = list(inspect.signature(trial.simulate_chunk.py_func).parameters)
    assert names[2 + len(FIELDS) :] == AFTER_FIELDS


def _constructions(path: Path, function: str, bundle: str) -> list[ast.Call]:
    calls = _calls(_function(path, function), bundle)
    assert calls, f"{function} builds no {bundle}"
    return calls


def _keywords(call: ast.Call) -> list[str]:
    assert not call.args, "bundles are built by keyword on the host"
    return [keyword.arg for keyword in call.keywords]


def _row_fields(call: ast.Call, bundle: str) -> list[str]:
    """The fields a row bundle is built from: ``unwrap(bundle.FIELD)[...]`` → FIELD, in order."""
    assert not call.keywords
    fields = []
    for argument in call.args:
        node = argument.value if isinstance(argument, ast.Subscript) else argument
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "unwrap":
            node = node.args[0]
        assert isinstance(node, ast.Attribute), ast.unparse(argument)
        fields.append(node.attr)
    return fields


def test_the_cpu_driver_builds_both_bundles_field_by_field_in_order():
    path = Path(cpu.__file__)
    for function, bundle in (("_scratch", "Scratch"), ("run_chunks", "Outputs")):
        for call in _constructions(path, function, bundle):
            assert _keywords(call) == list(BUNDLES[bundle]._fields)


def test_the_cuda_launcher_builds_the_scratch_field_by_field_in_order():
    for call in _constructions(KERNELS / "cuda.py", "_scratch", "Scratch"):
        assert _keywords(call) == list(Scratch._fields)
    for call in _constructions(KERNELS / "cuda.py", "launch", "Outputs"):
        if call.keywords:
            assert _keywords(call) == list(Outputs._fields)


def test_the_cuda_kernel_builds_each_rows_bundles_from_the_same_fields_in_order():
    path = KERNELS / "cuda.py"
    for bundle, variable in (("Scratch", "scratch"), ("Outputs", "out")):
        (call,) = _constructions(path, "run_chunks_cuda", bundle)
        assert _row_fields(call, bundle) == list(BUNDLES[bundle]._fields)
        bases = {ast.unparse(a.value if isinstance(a, ast.Subscript) else a) for a in call.args}
        assert bases == {f"unwrap({variable}.{field})" for field in BUNDLES[bundle]._fields}


def test_the_kernel_reads_every_bundle_field_and_no_other():
    function = _function(KERNELS / "trial.py", "simulate_chunk")
    for bundle, variable in (("Scratch", "scratch"), ("Outputs", "out")):
        read = {
            node.attr
            for node in ast.walk(function)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == variable
        }
        assert read == set(BUNDLES[bundle]._fields), bundle


def test_the_abi_check_fails_on_a_swapped_pair_of_parameters():
    source = (KERNELS / "cuda.py").read_text().replace("guide, prefix, pairs,", "prefix, guide, pairs,")
    function = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == "run_chunks_cuda"
    )
    assert [a.arg for a in function.args.args][4 : 4 + len(FIELDS)] != FIELDS


def test_the_bundle_check_fails_on_a_swapped_or_missing_field():
    source = (KERNELS / "cuda.py").read_text()
    race, z = "unwrap(scratch.race)[row]", "unwrap(scratch.z)[row]"
    swapped = source.replace(f"{race}, {z}", f"{z}, {race}")
    missing = source.replace(" unwrap(out.c2)[row],", "")
    for changed in (swapped, missing):
        assert changed != source
        tree = ast.parse(changed)
        kernel = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "run_chunks_cuda")
        fields = {bundle: _row_fields(call, bundle) for bundle in BUNDLES for call in _calls(kernel, bundle)}
        assert fields != {bundle: list(BUNDLES[bundle]._fields) for bundle in BUNDLES}
