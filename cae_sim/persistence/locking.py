"""One writer at a time, and saves that survive a crash between the two renames of a swap.

A writer holds an advisory lock (``fcntl.flock``) on ``.NAME.lock`` beside the save ``NAME`` for the whole of its
read-modify-write: ``with writing(directory):``. A second writer waits for it, up to ``timeout`` seconds, then fails
with an ``OSError`` that names the save and the process holding it. The lock is re-entrant within a process, so
``Pipeline.save`` inside a command's ``writing`` block does not wait for itself.

A save is replaced by renaming it to ``.NAME.old-*`` and the complete new one (``.NAME.partial-*``, whose manifest is
written last) to ``NAME``. ``recover`` finishes or undoes a swap that a crash interrupted and removes the leftovers
of earlier writers once the save is known good.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .._files import sync_folder

#: How long a second writer waits for the first, in seconds.
LOCK_TIMEOUT = 600.0
#: How often a waiting writer tries the lock again, in seconds.
LOCK_POLL = 0.1

_held: dict[Path, int] = {}  # the locks this process holds, by save, with their depth
_held_guard = threading.Lock()


def lock_file(directory: str | os.PathLike) -> Path:
    """The lock file of the save in ``directory``: ``.NAME.lock`` beside it (it survives the save's swaps)."""
    target = Path(directory).absolute()
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def writing(directory: str | os.PathLike, timeout: float = LOCK_TIMEOUT) -> Iterator[Path]:
    """Hold the save's writer lock for the block, after recovering an interrupted swap; yield the save's path.

    Raises
    ------
    OSError
        If another process holds the lock for longer than ``timeout`` seconds.
    """
    target = Path(directory).absolute()
    with _locked(target, timeout):
        recover(target, locked=True)
        yield target


@contextlib.contextmanager
def _locked(target: Path, timeout: float) -> Iterator[None]:
    with _held_guard:
        if target in _held:
            _held[target] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held[target] -= 1
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(lock_file(target), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        _acquire(descriptor, target, timeout)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        with _held_guard:
            _held[target] = 1
        try:
            yield
        finally:
            with _held_guard:
                del _held[target]
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def _acquire(descriptor: int, target: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise OSError(f"the save {str(target)!r} is being written by another process (pid {holder}); "
                          f"waited {timeout:g} s for it to finish")
        time.sleep(LOCK_POLL)


def recover(target: Path, *, locked: bool = False) -> None:
    """Finish or undo a swap that a crash interrupted, and remove stale ``.partial``/``.old`` folders.

    Without ``locked``, a missing save waits for the writer lock (a writer may be between its two renames), and
    leftovers are removed only if no writer holds the lock now.
    """
    leftovers = _leftovers(target)
    if not leftovers and (locked or target.exists()):
        return
    if locked:
        _recover_locked(target, leftovers)
    elif not target.exists():
        with writing(target):
            pass
    else:
        with contextlib.suppress(OSError), writing(target, timeout=0):
            pass


def _recover_locked(target: Path, leftovers: list[Path]) -> None:
    if not target.exists():
        complete = [path for path in leftovers if ".partial-" in path.name and (path / "manifest.json").is_file()]
        retired = [path for path in leftovers if ".old-" in path.name]
        chosen = (complete or retired or [None])[0]  # the new save if its manifest was written, else the old one
        if chosen is not None:
            chosen.rename(target)
            sync_folder(target.parent)
            leftovers.remove(chosen)
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def _leftovers(target: Path) -> list[Path]:
    """The ``.NAME.partial-*`` and ``.NAME.old-*`` folders beside the save, newest first."""
    if not target.parent.is_dir():
        return []
    prefixes = (f".{target.name}.partial-", f".{target.name}.old-")
    found = [path for path in target.parent.iterdir() if path.name.startswith(prefixes) and not path.is_symlink()]
    return sorted(found, key=lambda path: path.stat().st_mtime, reverse=True)
