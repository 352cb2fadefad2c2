"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Used for the image cache, the benchmark's JSON results and training checkpoints.
"""

import contextlib
import os
import secrets

__all__ = ["atomic_write"]


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, fsync=False):
    """Open a temporary file next to ``path``; on success, move it over ``path``.

    The move is :func:`os.replace`, atomic on one file system; on any error (Ctrl-C
    included) the temporary file is removed and ``path`` is left as it was.

    Written by hand rather than with :func:`tempfile.mkstemp`, whose files are
    readable by their owner only (0600) whatever the umask: moved into place, they
    would lock other users out of a cache folder shared between them. Here the file
    is created as :func:`open` creates files (0666 less the umask), under a random
    name that ``O_EXCL`` keeps from clashing with another writer's.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    fsync : bool, default=False
        Flush the data to the disk before the move, so that a crash of the machine
        cannot leave an empty file under ``path``.

    Examples
    --------
    >>> import json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "result.json")
    >>> with atomic_write(path, "w") as f:
    ...     json.dump({"acc": 0.9}, f)
    >>> open(path).read()
    '{"acc": 0.9}'
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    created = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        created = True
        with os.fdopen(fd, mode) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if created:  # never another writer's file, should the name have clashed
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
