"""The kernel ABI is named: both kernels' signatures list :class:`KernelArgs`' fields in order.

``KernelArgs`` is the plan's fields followed by ``sum_p2``, ``sum_pg``, ``sum_g2``; the CPU driver
passes it as ``*args`` after ``start, stop``, the CUDA kernel takes it after its four chunk
arguments and hands it on to ``simulate_chunk`` one by one. The CUDA module is read as source, so
these checks run without numba-cuda.
"""

import ast
import inspect
from pathlib import Path

from carms_cli.discrete.kernels import cpu, trial
from carms_cli.discrete.kernels.args import KernelArgs
from carms_cli.discrete.plan import Plan

KERNELS = Path(trial.__file__).resolve().parent
FIELDS = list(KernelArgs._fields)


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
    # after the inputs: the same scratch and outputs (the CUDA kernel's rows carry an ``out_``
    # prefix), then no fixed sizes on the GPU
    renamed = {"out_scalars": "scalars"}
    assert [renamed.get(name, name) for name in passed[: len(expected) - 2]] == expected[:-2]
    assert passed[-2:] == ["None", "None"]


def test_the_abi_check_fails_on_a_swapped_pair_of_parameters():
    source = (KERNELS / "cuda.py").read_text().replace("guide, prefix, pairs,", "prefix, guide, pairs,")
    function = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == "run_chunks_cuda"
    )
    assert [a.arg for a in function.args.args][4 : 4 + len(FIELDS)] != FIELDS
