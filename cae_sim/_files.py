"""File helpers shared by the save format, the weights cache, the shards of a distributed encoding and the commands."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file's content (``OSError`` for anything but a regular file: nothing blocks)."""
    with open_regular_file(path) as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class NotRegularFileError(OSError):
    """A path that names a FIFO, socket, device or directory where a regular file is expected."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def open_regular_file(path: str | os.PathLike, *, follow_links: bool = True) -> BinaryIO:
    """Open a regular file for reading, never blocking: a FIFO, socket or device is refused, not opened for reading.

    The file is opened with ``O_NONBLOCK`` and checked with ``fstat``, so even a FIFO put in its place after a
    check cannot hang the caller.

    Parameters
    ----------
    path : str or path-like
        The file.
    follow_links : bool
        With False, a symbolic link is refused (``OSError``, errno ``ELOOP``).

    Returns
    -------
    binary file object

    Raises
    ------
    NotRegularFileError
        If ``path`` is not a regular file; its ``strerror`` says what it is.
    OSError
        If it cannot be opened (missing, no permission, a link where none is followed).
    """
    _check_regular(path, os.stat(path, follow_symlinks=follow_links).st_mode)  # a socket cannot even be opened
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    descriptor = os.open(path, flags)
    try:
        _check_regular(path, os.fstat(descriptor).st_mode)  # what was opened, in case the path changed
    except NotRegularFileError:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


def _check_regular(path: str | os.PathLike, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), None)
        reason = f"is {kind}, not a regular file" if kind else "is not a regular file"
        raise NotRegularFileError(0, reason, os.fspath(path))


def printable(text: str) -> str:
    """``text`` as a person reads it, on one line: bytes of a file name that are not UTF-8 (which Python holds as
    lone surrogates, its "surrogateescape") shown as a visible ``\\xNN`` escape, other characters that are not
    printable (controls, line separators) as Python writes them in a string (``\\r``, ``\\x1b``, ``\\u2028``).

    Printing it never fails, and a name cannot break a line, move the cursor or send a terminal escape sequence.
    """
    if text.isprintable():
        return text
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through ``write(file)`` under a temporary name, flush it to disk, rename it to ``path``.

    A reader sees the old file or the whole new one, never a part; the temporary file goes if ``write`` fails.
    """
    temporary = f"{os.fspath(path)}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(temporary, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def swap_into_place(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` where ``target`` is: renamed in, any older ``target`` renamed away, then deleted.

    Between the two renames ``target`` is briefly absent; it is never half written (``cae_sim.persistence.locking``
    recovers a save whose swap a crash interrupted).
    """
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(retired)
        staging.rename(target)
        sync_folder(target.parent)
        shutil.rmtree(retired)
    else:
        staging.rename(target)
        sync_folder(target.parent)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
