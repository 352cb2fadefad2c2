"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Used for the image cache, the benchmark's JSON results and training checkpoints;
with the checks that such a file can be written, made before the work that makes it.
"""

import contextlib
import os
import secrets
import tempfile

__all__ = ["atomic_write", "check_writable", "folder_problem"]

# The characters of the target's name that a temporary file's name keeps: with its
# dots, token and suffix, at most 4 bytes a character, far below the 255-byte limit.
_TMP_NAME_CHARS = 40


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

    A symbolic link is written through, as :func:`open` writes: the file it leads to
    is replaced, and the link stays.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder (that of the file a link leads to) must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text.
    fsync : bool, default=False
        Flush the data to the disk before the move, so that a crash of the machine
        cannot leave an empty file under ``path``.

    Examples
    --------
    >>> import json, os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "result.json")
    ...     with atomic_write(path, "w") as f:
    ...         json.dump({"acc": 0.9}, f)
    ...     with open(path) as f:
    ...         print(f.read(), os.listdir(folder))
    {"acc": 0.9} ['result.json']
    """
    # The temporary file must lie in the target's folder, on its file system: moved
    # over a link, it would replace the link and leave the file it leads to as it was.
    path = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(path)
    # The name shortened: a long file name of its own (up to the 255 bytes most file
    # systems allow) would make the temporary one too long.
    tmp = os.path.join(folder, f".{name[:_TMP_NAME_CHARS]}.{secrets.token_hex(6)}.tmp")
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


def check_writable(path):
    """Raise ValueError naming ``path`` if :func:`atomic_write` could not write it
    (after creating its folder).

    For a run's output file or a fit's checkpoints, checked before the run rather
    than found out after it: ``path`` must not be a folder, and its folder must exist
    or be creatable (its nearest existing folder accepts new files). A link is
    written through (see :func:`atomic_write`): the folder of the file it leads to
    must exist and accept new files. Nothing is left behind.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     check_writable(f"{folder}/new/results.json")  # the folder is created later
    ...     check_writable(folder)
    Traceback (most recent call last):
    ...
    ValueError: cannot write ...: it is a folder; give a file path, such as .../results.json.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(
            f"cannot write {path}: it is a folder; give a file path, such as "
            f"{os.path.join(path, 'results.json')}."
        )
    problem = folder_problem(os.path.dirname(path))
    if problem is None and os.path.islink(path):
        # Its target's folder is not created: a link into a folder that is missing (a
        # disk not mounted) should not fill the mount point.
        real = os.path.realpath(path)
        folder = os.path.dirname(real)
        problem = (
            folder_problem(folder) if os.path.isdir(folder)
            else f"it is a link to {real}, whose folder {folder} does not exist."
        )
    if problem is not None:
        raise ValueError(f"cannot write {path}: {problem}")


def folder_problem(folder):
    """Why no file could be created in ``folder`` (after creating it, if it does not
    exist), in words; None if one could. See :func:`check_writable`.

    Examples
    --------
    >>> import tempfile
    >>> folder_problem(tempfile.gettempdir()) is None
    True
    >>> folder_problem("/proc/new")
    'no file can be created in /proc (...); give a path in a writable folder.'
    """
    existing = os.path.abspath(os.fspath(folder))
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} is not a folder."
    # Creating a file there is the only test that holds for every file system
    # (os.access says yes to root on read-only and virtual ones such as /proc).
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".", suffix=".probe")
    except OSError as exc:
        return (
            f"no file can be created in {existing} ({exc.strerror or exc}); give a path "
            "in a writable folder."
        )
    os.close(fd)
    os.unlink(probe)
    return None
