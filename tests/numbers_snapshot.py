"""Snapshot every command's JSON numbers, timing fields removed, to diff before and after a change.

"Numbers are a contract": the same seed must give bitwise-identical numbers across refactors.
Run it on the old and on the new tree and diff the two folders::

    python tests/numbers_snapshot.py /tmp/before     # on the old revision
    python tests/numbers_snapshot.py /tmp/after      # on the new one
    diff -r /tmp/before /tmp/after && echo identical

Every registered estimator is covered (``-e all`` on categorical, binary and multi-variable
problems, with ``--exact``), through both the numba and the NumPy backend, and every command
that writes a JSON record (``exact``, ``pmf``, ``duplicates``, ``sweep``, ``train``, ``list``,
``compare``). Floats are written with ``repr`` (17 significant digits), so any change of a bit
shows. Fields that measure time or the machine are dropped; nothing else is.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

#: Keys whose values measure time or the machine, not the numbers: dropped from the snapshot.
TIMING_KEYS = {
    "wall_seconds",
    "trials_per_second",
    "seconds_per_estimate",
    "seconds",
    "ms_per_step",
    "elapsed_seconds",
    "threads",
    "version",
}

CASES = {
    "variance_default": ["variance", "-k", "10", "-n", "4", "-t", "40000"],
    "variance_all_exact": ["variance", "-k", "4", "-n", "4", "-t", "20000", "-e", "all", "--exact", "--seed", "3"],
    "variance_all_numpy": ["variance", "-k", "4", "-n", "3", "-t", "5000", "-e", "all", "--backend", "numpy"],
    "variance_dims": [
        "variance", "-k", "3", "-d", "3", "-n", "3", "--alpha", "10", "--seed", "1", "-t", "20000",
        "-e", "loorf,carms,carms-g,carms-sb,unord,arsm,gumbel-softmax:0.5,gumbel-st:0.1", "--exact",
    ],
    "variance_binary": [
        "variance", "--binary", "--probs", "0.7,0.3", "-o", "quadratic:0.49", "-n", "4", "-t", "20000",
        "-e", "all", "--exact",
    ],
    "variance_large_k": ["variance", "-k", "40", "-n", "5", "-t", "20000", "-e", "loorf,carms,carms-gauss,carms-sb"],
    "variance_n9_d2": ["variance", "-k", "6", "-d", "2", "-n", "9", "-t", "10000", "-e", "reinforce,loorf,carms"],
    "exact_all": ["exact", "--probs", "0.7,0.2,0.07,0.03", "-o", "quadratic", "-n", "3", "-e", "all"],
    "pmf_stick": ["pmf", "--probs", "0.4,0.1,0.2,0.3", "-n", "3", "--construction", "stick", "--check", "20000"],
    "pmf_gauss": ["pmf", "-k", "5", "-n", "2", "--copula", "gaussian"],
    "duplicates": ["duplicates", "--probs", "0.4,0.1,0.2,0.3", "-n", "3", "-t", "20000"],
    "sweep": ["sweep", "-k", "5", "-n", "2..3", "-e", "loorf,carms", "-t", "10000", "-q"],
    "train": ["train", "-n", "2,4", "--lr", "20", "--steps", "20", "--replicates", "50", "-q"],
    "list": ["list"],
}


def strip_timing(value):
    """``value`` without the keys in :data:`TIMING_KEYS`, at any depth."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def run_case(name: str, args: list[str], out: Path, work: Path) -> None:
    """Run ``carms ARGS --json FILE`` and write the stripped record to ``out/NAME.json``."""
    target = work / f"{name}.json"
    flag = "--jsonl" if args[0] == "sweep" else "--json"
    result = subprocess.run(
        [sys.executable, "-m", "carms_cli", *args, flag, str(target)], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"{name}: exit {result.returncode}: {result.stderr.strip()}")
    text = target.read_text()
    if flag == "--jsonl":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records = json.loads(text)
    (out / f"{name}.json").write_text(json.dumps(strip_timing(records), indent=1, sort_keys=True) + "\n")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name, args in CASES.items():
            run_case(name, args, out, Path(work))
        # compare reads two records the tool wrote: its verdicts must not move either
        base = Path(work) / "variance_default.json"
        run_case("compare", ["compare", str(base), str(base)], out, Path(work))
    print(f"{len(CASES) + 1} snapshots in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "numbers-snapshot")
