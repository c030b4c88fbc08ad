"""Kernel cache directory: keyed on every kernel source file, under NUMBA_CACHE_DIR if set."""

from carms_cli import kernels


def test_cache_dir_depends_on_every_kernel_source(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    full = kernels.kernel_cache_dir()
    assert full.parent == tmp_path and full.name.startswith("kernels-")
    for dropped in kernels._KERNEL_SOURCES:
        subset = tuple(name for name in kernels._KERNEL_SOURCES if name != dropped)
        monkeypatch.setattr(kernels, "_KERNEL_SOURCES", subset)
        assert kernels.kernel_cache_dir() != full
        monkeypatch.undo()
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))


def test_default_cache_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kernels.kernel_cache_dir().parent == tmp_path / "carms-cli"
