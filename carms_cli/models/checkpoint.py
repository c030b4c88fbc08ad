"""Saved training state: one ``.npz`` written whole or not at all (temporary file, then rename).

It holds the run configuration and the finished runs' evaluations (JSON text under ``meta``)
and the current run's parameters and Adam moments (``params/NAME``, ``first/NAME``,
``second/NAME``). ``--resume`` reads it back and refuses a file written under another
configuration.
"""

import json
import zipfile
from pathlib import Path

import numpy as np

from carms_cli.core.errors import InputError
from carms_cli.core.files import atomic_path
from carms_cli.models.training import RunState

FORMAT = "carms-cli/vae-checkpoint/1"


def save(path: str, config: dict, finished: list[dict], current: int, state: RunState | None) -> None:
    """Write the state after ``finished`` runs and, when ``state`` is given, run ``current`` so far."""
    meta = {"format": FORMAT, "config": config, "finished": finished, "current": current}
    arrays: dict[str, np.ndarray] = {}
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


def load(path: str, config: dict) -> tuple[list[dict], int, RunState | None]:
    """Read a checkpoint written under ``config``: (finished runs, current run index, its state or None)."""
    if not Path(path).is_file():
        raise InputError(f"--resume: no checkpoint at '{path}'")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            groups: dict[str, dict[str, np.ndarray]] = {"params": {}, "first": {}, "second": {}}
            for key in archive.files:
                group, _, name = key.partition("/")
                if group in groups:
                    groups[group][name] = archive[key].copy()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise InputError(f"--resume: '{path}' is not a readable checkpoint ({exc})") from None
    if meta.get("format") != FORMAT:
        raise InputError(f"--resume: '{path}' is not a carms vae checkpoint")
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
