"""On a machine with a CUDA GPU: do the CPU and the GPU give the same numbers for every registered
estimator, and how fast is each?

    python examples/gpu_check.py [TRIALS]        # default 200000 trials per estimator and problem

For a categorical, a binary and a multi-variable problem it runs ``carms variance -e all``, and for
a Gaussian, a Gamma-rate, a Gamma-shape (the implicit estimator) and an Exponential problem
``carms continuous -e all``, with ``--backend cpu`` and ``--backend cuda``, and compares every
number of the two JSON records except the timing and machine fields: equal to 1e-9, relative
(absolute below 1). The GPU's
``log``/``erfc`` and fused multiply-adds may differ from the CPU's in the last bit, and the GPU
merges 256-trial chunks where the CPU merges larger ones, so sums differ in the last bits (under
the simulator too); bias z-scores near 0 amplify that, hence the absolute floor. Then it prints
each estimator's CPU and GPU throughput from those runs, and ``carms bench --backend cuda`` at a
larger size (small runs time the GPU's launches, not its kernels). Exit 0 when every number
matches, 1 otherwise.

Without a usable GPU it prints one line saying so and exits 0. Under ``NUMBA_ENABLE_CUDASIM=1``
(the Numba CUDA simulator, no GPU needed) it runs at a tiny size: the simulator is slow.
"""

import json
import sys
import tempfile
from pathlib import Path

from carms_cli.cli.app import main
from carms_cli.core.backends import cuda_status

#: Fields that measure time or the machine, or name the backend: not compared.
IGNORED = {
    "wall_seconds",
    "trials_per_second",
    "seconds_per_estimate",
    "backend",
    "backend_note",
    "threads",
    "chunk_size",
    "version",
}
#: Largest |cpu − gpu| / max(|cpu|, |gpu|, 1) accepted.
TOLERANCE = 1e-9
SIMULATOR_TRIALS = 2_000
COMMON = "-e all --seed 7 -q"
DISCRETE = f"variance {COMMON} --reference-mc-draws 5"
#: Each problem's command line; ``-t``, ``--backend`` and ``--json`` are added per run.
PROBLEMS = {
    "categorical": f"{DISCRETE} -k 10 -n 4 -o table".split(),
    "binary": f"{DISCRETE} --binary --probs 0.7,0.3 -o quadratic:0.49 -n 4".split(),
    "multi-variable": f"{DISCRETE} -k 4 -d 3 -n 3 -o pairwise".split(),
    "gaussian": f"continuous {COMMON} --dist gaussian --mu 0.5 --sigma 1.5 -d 2 -o cos:1".split(),
    "gamma-rate": f"continuous {COMMON} --dist gamma --alpha 2.5 --rate 1.5 -o square".split(),
    "gamma-shape": f"continuous {COMMON} --dist gamma --alpha 2.5 --rate 1.5 --param alpha -o log".split(),
    "exponential": f"continuous {COMMON} --dist exponential --rate 2 -o exp:1".split(),
}


def leaves(record, path=""):
    """Every (path, value) leaf of a JSON record, the :data:`IGNORED` keys left out."""
    if isinstance(record, dict):
        for key, value in record.items():
            if key not in IGNORED:
                yield from leaves(value, f"{path}.{key}")
    elif isinstance(record, list):
        for index, value in enumerate(record):
            yield from leaves(value, f"{path}[{index}]")
    else:
        yield path, record


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare(cpu: dict, gpu: dict) -> tuple[int, int, float, list[str]]:
    """(numbers, bitwise-equal numbers, largest difference, paths that differ); a difference is
    ``|a − b| / max(|a|, |b|, 1)``."""
    expected, got = dict(leaves(cpu)), dict(leaves(gpu))
    bad = sorted(expected.keys() ^ got.keys())
    numbers = equal = 0
    worst = 0.0
    for path in expected.keys() & got.keys():
        a, b = expected[path], got[path]
        if is_number(a) and is_number(b):
            numbers += 1
            equal += a == b
            difference = abs(a - b) / max(abs(a), abs(b), 1.0)
            worst = max(worst, difference)
            if difference > TOLERANCE:
                bad.append(path)
        elif a != b:
            bad.append(path)
    return numbers, equal, worst, bad


def run(args: list[str]) -> None:
    code = main(args)
    if code != 0:
        raise SystemExit(f"carms {' '.join(args)} exited {code}")


def main_check(trials: int) -> int:
    usable, reason = cuda_status()
    if not usable:
        print(f"no GPU: {reason}; nothing to check")
        return 0
    from numba import config

    simulated = bool(config.ENABLE_CUDASIM)
    if simulated:
        trials = min(trials, SIMULATOR_TRIALS)
        device = "the Numba CUDA simulator"
    else:
        from numba import cuda

        device = cuda.get_current_device().name
        device = device.decode() if isinstance(device, bytes) else device
    print(f"CPU against GPU ({device}), {trials:,} trials per estimator and problem")
    failed = 0
    rates = {}
    with tempfile.TemporaryDirectory(prefix="carms-gpu-check-") as work:
        for name, problem in PROBLEMS.items():
            records = {}
            for backend in ("cpu", "cuda"):
                target = Path(work) / f"{name}-{backend}.json"
                run([*problem, "-t", str(trials), "--backend", backend, "--json", str(target)])
                records[backend] = json.loads(target.read_text())
            numbers, equal, worst, bad = compare(records["cpu"], records["cuda"])
            verdict = "same" if not bad else f"DIFFERENT at {len(bad)} fields, first {bad[0]}"
            print(
                f"{name}: {len(records['cpu']['estimators'])} estimators, {numbers:,} numbers, {equal:,} bitwise "
                f"equal, largest difference {worst:.1e}: {verdict}"
            )
            failed += bool(bad)
            rates[name] = [
                (c["name"], c["trials_per_second"], g["trials_per_second"])
                for c, g in zip(records["cpu"]["estimators"], records["cuda"]["estimators"], strict=True)
            ]
    print(f"\nthroughput at {trials:,} trials (million trials per second; includes the GPU's launches and copies)")
    print(f"{'problem':<15} {'estimator':<16} {'CPU':>9} {'GPU':>9} {'GPU/CPU':>8}")
    for name, rows in rates.items():
        for estimator, cpu, gpu in rows:
            print(f"{name:<15} {estimator:<16} {cpu / 1e6:>9.3g} {gpu / 1e6:>9.3g} {gpu / cpu:>8.3g}")
    print()
    if simulated:
        bench = ["-t", "2000", "--numpy-trials", "1000", "--cuda-trials", "2000", "-r", "1", "-e", "loorf"]
    else:
        bench = ["-t", "4000000", "--cuda-trials", "64000000", "-r", "3", "-e", "carms,loorf,reinforce"]
    run(["bench", "--backend", "cuda", "--no-startup", *bench])
    print("CPU and GPU numbers match" if not failed else f"CPU and GPU numbers differ on {failed} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main_check(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
