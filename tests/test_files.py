"""Outputs are written whole or not at all: a failed write keeps the previous file."""

import json
import os
import subprocess
import sys

import pytest

from carms_cli.core.files import atomic_path, write_text_atomic


def test_write_text_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    write_text_atomic(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "r.csv"
    target.write_text("previous result")
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as temporary:
        temporary.write_text("half a res")
        raise OSError("disk full")
    assert target.read_text() == "previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_a_process_killed_mid_write_keeps_the_previous_json(tmp_path):
    """The issue's repro: a file-size limit kills the second run while it writes a larger record."""
    target = tmp_path / "r.json"
    carms = [sys.executable, "-m", "carms_cli", "variance", "-n", "3", "-t", "20000", "-q"]
    first = subprocess.run([*carms, "-k", "5", "-e", "loorf", "--json", str(target)], capture_output=True)
    assert first.returncode == 0, first.stderr
    before = target.read_bytes()
    command = " ".join([*carms, "-k", "50", "-e", "loorf,carms", "--json", str(target)])
    second = subprocess.run(["bash", "-c", f"ulimit -f 8; {command}"], capture_output=True)
    assert second.returncode != 0  # SIGXFSZ: the 50-category record is larger than 8 KiB
    assert target.read_bytes() == before
    assert json.loads(before)["config"]["categories"] == 5
