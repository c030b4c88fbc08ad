"""Saved training state: one ``.npz`` written whole or not at all (temporary file, then rename).

It holds the run configuration and the finished runs' evaluations (JSON text under ``meta``)
and the current run's parameters and Adam moments (``params/NAME``, ``first/NAME``,
``second/NAME``); between runs and at the end, the last finished run's final parameters
(``final/NAME``). ``meta["parameters"]`` says whose parameters the file holds (seed, estimator,
step, pixels per image). ``--resume`` reads it back and refuses a file written under another
configuration; ``carms vae variance --checkpoint`` reads the parameters (:func:`parameters`).
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.core.files import atomic_path
from carms_cli.models.training import RunState

FORMAT = "carms-cli/vae-checkpoint/1"


def save(
    path: str,
    config: dict,
    finished: list[dict],
    current: int,
    state: RunState | None,
    parameters: dict | None = None,
    final: dict[str, np.ndarray] | None = None,
) -> None:
    """Write the state after ``finished`` runs and, when ``state`` is given, run ``current`` so far.

    ``final``: the last finished run's parameters (kept when no run is in progress);
    ``parameters``: whose parameters these are (``seed``, ``estimator``, ``step``, ``pixels``).
    """
    meta = {"format": FORMAT, "config": config, "finished": finished, "current": current}
    if parameters is not None:
        meta["parameters"] = parameters
    arrays: dict[str, np.ndarray] = {}
    if final is not None and state is None:
        arrays.update({f"final/{name}": value for name, value in final.items()})
    if state is not None:
        meta.update(step=state.step, seconds=state.seconds, timed_steps=state.timed_steps)
        meta["checkpoints"] = state.checkpoints
        for group, values in (("params", state.params), ("first", state.first), ("second", state.second)):
            arrays.update({f"{group}/{name}": value for name, value in values.items()})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
    except OSError as exc:
        raise InputError(f"cannot write the checkpoint '{path}': {exc.strerror or exc}") from None


def _read(path: str, option: str) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """Read the meta dictionary and the arrays by group (``params``, ``first``, ``second``, ``final``)."""
    if not Path(path).is_file():
        raise InputError(f"{option}: no checkpoint at '{path}'")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            groups: dict[str, dict[str, np.ndarray]] = {"params": {}, "first": {}, "second": {}, "final": {}}
            for key in archive.files:
                group, _, name = key.partition("/")
                if group in groups:
                    groups[group][name] = archive[key].copy()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise InputError(f"{option}: '{path}' is not a readable checkpoint ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{option}: '{path}' is not a carms vae checkpoint")
    return meta, groups


@dataclass(frozen=True)
class Saved:
    """Parameters saved by ``carms vae train --checkpoint``, the options they were trained with, and whose they are."""

    config: dict  # the train run's options (VaeConfig.to_dict())
    params: dict[str, np.ndarray]
    seed: int
    estimator: str
    step: int
    pixels: int


def parameters(path: str) -> Saved:
    """Read the parameters a checkpoint holds: the run in progress, else the last finished run's final ones."""
    meta, groups = _read(path, "--checkpoint")
    params = groups["params"] or groups["final"]
    label = meta.get("parameters")
    if not params or not isinstance(label, dict):
        raise InputError(f"--checkpoint: '{path}' holds no model parameters")
    try:
        return Saved(meta["config"], params, int(label["seed"]), str(label["estimator"]), int(label["step"]),
                     int(label["pixels"]))  # fmt: skip
    except (KeyError, TypeError, ValueError):
        raise InputError(f"--checkpoint: '{path}' does not say whose parameters it holds") from None


def load(path: str, config: dict) -> tuple[list[dict], int, RunState | None]:
    """Read a checkpoint written under ``config``: (finished runs, current run index, its state or None)."""
    meta, groups = _read(path, "--resume")
    if meta["config"] != config:
        changed = sorted(k for k in set(meta["config"]) | set(config) if meta["config"].get(k) != config.get(k))
        raise InputError(f"--resume: '{path}' was written with other options ({', '.join(changed)})")
    state = None
    if groups["params"]:
        state = RunState(
            groups["params"],
            groups["first"],
            groups["second"],
            step=meta["step"],
            seconds=meta["seconds"],
            timed_steps=meta["timed_steps"],
            checkpoints=meta["checkpoints"],
        )
    return meta["finished"], meta["current"], state
