"""Writing a file so that a reader (or a crash) sees the old file or the new one, never a part: ``atomic_path``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """``with atomic_path("out.png") as tmp: save(tmp)``: write a temporary sibling, then rename it over ``path``.

    The temporary file keeps ``path``'s suffix (encoders choose the format by it) and is hidden (a leading
    dot); it is flushed to disk before the rename, which replaces ``path`` in one step. If the block raises,
    the temporary file is removed and ``path`` is untouched. The parent folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as written:  # on disk before the name points at it
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
