"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

The data goes to a temporary file in the same folder (same file system), is flushed and
fsync'ed, then `os.replace`d over the target; the folder is fsync'ed so the rename survives
a power cut. On any error the temporary file is removed and the target is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Union

PathLike = Union[str, "os.PathLike[str]"]


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once at import, before threads start.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return  # Windows cannot open a folder for fsync; os.replace is durable enough there.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: PathLike) -> Iterator[BinaryIO]:
    """Yield a binary file to write; on a clean exit it replaces `path` atomically."""
    target = Path(path)
    folder = target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def write_bytes(path: PathLike, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    with atomic_open(path) as f:
        f.write(data)


def write_text(path: PathLike, text: str, encoding: str = "utf-8") -> None:
    """Replace `path` with `text` atomically (no newline translation)."""
    write_bytes(path, text.encode(encoding))
