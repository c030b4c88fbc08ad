"""Kernel cache directory: keyed on every kernel source file, under NUMBA_CACHE_DIR if set."""

from pathlib import Path

from carms_cli.core import jit

PACKAGE = Path(jit.__file__).resolve().parents[1]


def test_every_kernel_folder_file_and_rng_are_hashed():
    """Found by walking the package: a new file under any ``kernels/`` folder cannot be left out."""
    sources = {path.relative_to(PACKAGE).as_posix() for path in jit.kernel_sources()}
    on_disk = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("kernels/**/*.py")}
    assert on_disk and on_disk <= sources
    assert "core/rng.py" in sources
    assert {"discrete/kernels/trial.py", "discrete/kernels/cpu.py", "core/kernels/bound.py"} <= sources


def test_modules_the_kernels_import_are_hashed():
    """The enums whose members are the kernel's integer codes live outside kernels/: renumbering
    one must not load a kernel compiled with the old codes."""
    sources = {path.relative_to(PACKAGE).as_posix() for path in jit.kernel_sources()}
    enums = {"discrete/estimators/__init__.py", "discrete/sampling/samplers.py", "discrete/sampling/copulas.py"}
    assert enums <= sources
    assert "core/jit.py" in sources  # compile options
    assert "discrete/plan.py" not in sources  # host code the NumPy backend imports is not compiled


def test_cache_dir_depends_on_every_kernel_source(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    full = jit.kernel_cache_dir()
    assert full.parent == tmp_path and full.name.startswith("kernels-")
    sources = jit.kernel_sources()
    for dropped in sources:
        monkeypatch.setattr(jit, "kernel_sources", lambda dropped=dropped: [s for s in sources if s != dropped])
        jit._sources_digest.cache_clear()
        assert jit.kernel_cache_dir() != full
        monkeypatch.undo()
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    jit._sources_digest.cache_clear()


def test_default_cache_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jit.kernel_cache_dir().parent == tmp_path / "carms-cli"


def test_the_default_run_needs_one_specialisation_of_the_chunk_kernel():
    """`carms variance`'s default estimators (CARMS-I and independent samplers, every copula)
    share the pruned CARMS-I specialisation: a cold start compiles one chunk kernel, not three."""
    import subprocess
    import sys

    script = (
        "from carms_cli.cli.app import app\n"
        "from carms_cli.discrete.kernels.trial import simulate_chunk\n"
        "try:\n"
        "    app(['variance', '-k', '5', '-n', '3', '-t', '2000', '-q'])\n"
        "except SystemExit as stop:\n"
        "    assert stop.code in (0, None), stop.code\n"
        "print(len(simulate_chunk.signatures))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1"


def _run_cached_add(module_dir, cache_dir):
    import os
    import subprocess
    import sys

    script = f"import sys; sys.path.insert(0, {str(module_dir)!r}); import tiny; print(tiny.add(2, 3))"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)


def test_a_damaged_kernel_cache_is_discarded_with_one_warning_and_recompiled(tmp_path):
    """Issue 19, item 1: truncated cache files (a full disk, a killed process) used to break every
    later run; the damaged entries are removed and the kernel compiles again."""
    (tmp_path / "tiny.py").write_text(
        "from carms_cli.core.jit import cached_kernel\n\n\n@cached_kernel()\ndef add(a, b):\n    return a + b\n"
    )
    cache = tmp_path / "cache"
    first = _run_cached_add(tmp_path, cache)
    assert first.returncode == 0 and first.stdout.strip() == "5" and first.stderr == ""
    damaged = list(cache.rglob("*.nbc"))
    assert damaged
    for path in damaged:
        path.write_bytes(b"")
    second = _run_cached_add(tmp_path, cache)
    assert second.returncode == 0 and second.stdout.strip() == "5"
    assert second.stderr.startswith("warning: discarded damaged kernel cache entries")
    assert second.stderr.count("\n") == 1
    third = _run_cached_add(tmp_path, cache)  # saved afresh: loads silently
    assert third.returncode == 0 and third.stdout.strip() == "5" and third.stderr == ""


def test_an_unwritable_cache_directory_falls_back_with_one_warning(tmp_path):
    (tmp_path / "tiny.py").write_text(
        "from carms_cli.core.jit import cached_kernel\n\n\n@cached_kernel()\ndef add(a, b):\n    return a + b\n"
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = _run_cached_add(tmp_path, blocker / "cache")
    assert result.returncode == 0 and result.stdout.strip() == "5"
    assert result.stderr.startswith("warning: the kernel cache directory") and "not writable" in result.stderr
    assert result.stderr.count("\n") == 1
