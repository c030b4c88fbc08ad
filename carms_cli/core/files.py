"""Files the tool writes appear whole or not at all.

Every output (JSON, CSV, figures) is written to a temporary file in the target's directory and
renamed onto the target only once it is complete: a failed or interrupted write (full disk, a
file-size limit, Ctrl-C, a crash) leaves the previous file as it was, never a truncated one.
``os.replace`` is atomic within one file system, which the same directory guarantees.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _default_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` would have given a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    The temporary file keeps ``target``'s suffix (so writers that infer a format from it, such
    as matplotlib, still do) and is removed if the block raises.
    """
    target = Path(target)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".tmp{target.suffix}")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, _default_mode())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` through :func:`atomic_path`."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
