"""File helpers shared by the save format, the weights cache, the shards of a distributed encoding and the commands."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file's content."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


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
