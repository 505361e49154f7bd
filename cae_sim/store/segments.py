"""Segment files: a store's codes on disk, in ``.npy`` files written once and read in place.

Segment ``N`` is up to three files in ``segments/``: ``N.codes.npy`` (rows, width) in the store's dtype,
``N.ids.npy`` (rows,) int64, ascending, and, once the store's compressed search is trained, ``N.pq.npy``
(rows, code bytes) uint8. Files are written under a temporary name and renamed when complete; the catalogue lists
a segment only after its files are in place.

Reads never map or load a whole file: rows are read with ``pread``, each run of neighbouring rows in one call, so
a process's memory stays that of the rows it holds, whatever the store's size; the operating system's page cache
keeps what is read often. (A memory map was tried for a query's candidates: where the page cache holds large
folios, each touched row mapped hundreds of KB, 1.5 GB of RSS for 2,000 rows, and 200 rows took 8.8 ms against
2.5 ms with ``pread``.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._files import sync_folder, write_atomically

FOLDER = "segments"
KINDS = ("codes", "ids", "pq")


class SegmentFiles:
    """The segment files of a store folder.

    Parameters
    ----------
    folder : path
        The store's folder; segments live in ``folder/segments``.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder) / FOLDER
        self._open: dict[Path, tuple[int, int, tuple, np.dtype]] = {}  # path: descriptor, data offset, shape, dtype

    def path(self, number: int, kind: str) -> Path:
        """The file of segment ``number``'s ``kind`` (one of ``KINDS``)."""
        return self.folder / f"{number:06d}.{kind}.npy"

    def write(self, number: int, arrays: dict[str, np.ndarray]) -> None:
        """Write segment ``number``'s arrays (by kind), each atomically, and flush the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for kind, array in arrays.items():
            write_atomically(self.path(number, kind), lambda file, array=array: np.save(file, array, allow_pickle=False))
        sync_folder(self.folder)

    def write_blocks(self, number: int, kind: str, shape: tuple, dtype, blocks: Iterator[np.ndarray]) -> None:
        """Write segment ``number``'s ``kind`` of ``shape`` from consecutive blocks of rows, never all in memory.

        Raises
        ------
        ValueError
            If the blocks do not add up to ``shape``.
        """
        self.folder.mkdir(parents=True, exist_ok=True)

        def write(file) -> None:
            np.lib.format.write_array_header_1_0(file, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
            written = 0
            for block in blocks:
                file.write(np.ascontiguousarray(block, dtype).tobytes())
                written += len(block)
            if written != shape[0]:
                raise ValueError(f"segment {number} {kind}: {written} rows written, {shape[0]} expected")

        write_atomically(self.path(number, kind), write)
        sync_folder(self.folder)

    def read_rows(self, number: int, kind: str, rows: np.ndarray, shape: tuple, dtype) -> np.ndarray:
        """Rows ``rows`` (ascending ints) of segment ``number``'s ``kind``, which must have ``shape`` and ``dtype``.

        Raises
        ------
        ValueError
            If the file's shape or dtype is not the one the catalogue gives (a damaged store).
        OSError
            If the file is missing.
        """
        descriptor, offset, shape, dtype = self._opened(number, kind, shape, dtype)
        row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        out = np.empty((len(rows), *shape[1:]), dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        for start, stop in _runs(rows):  # neighbouring rows are read in one call
            wanted = (stop - start) * row_bytes
            if os.preadv(descriptor, [view[done:done + wanted]], offset + start * row_bytes) != wanted:
                raise ValueError(f"{self.path(number, kind)} is shorter than its header says")
            done += wanted
        return out

    def blocks(self, number: int, kind: str, shape: tuple, dtype, block_rows: int) -> Iterator[np.ndarray]:
        """Segment ``number``'s ``kind`` in consecutive blocks of up to ``block_rows`` rows."""
        for start in range(0, shape[0], block_rows):
            rows = np.arange(start, min(start + block_rows, shape[0]))
            yield self.read_rows(number, kind, rows, shape, dtype)

    def remove_unlisted(self, listed: set[int]) -> list[Path]:
        """Delete the files of segments not in ``listed`` and unfinished temporary files; return what went.

        Call it only under the catalogue's write lock: a writer lists its segment only after writing its files.
        """
        removed = []
        for path in self.folder.glob("*") if self.folder.is_dir() else ():
            number = path.name.split(".", 1)[0]
            if path.name.endswith(".tmp") or not number.isdigit() or int(number) not in listed:
                path.unlink()
                removed.append(path)
        return removed

    def forget(self) -> None:
        """Close every file this object holds open (they may have been replaced)."""
        for descriptor, *_ in self._open.values():
            os.close(descriptor)
        self._open.clear()

    def _opened(self, number: int, kind: str, shape: tuple, dtype) -> tuple[int, int, tuple, np.dtype]:
        path = self.path(number, kind)
        if path not in self._open:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                self._open[path] = (descriptor, *_checked_header(path, descriptor, shape, np.dtype(dtype)))
            except BaseException:
                os.close(descriptor)
                raise
        return self._open[path]


def _checked_header(path: Path, descriptor: int, shape: tuple, dtype: np.dtype) -> tuple[int, tuple, np.dtype]:
    """The data offset, shape and dtype of an ``.npy`` file, which must be ``shape`` and ``dtype``, C order."""
    with os.fdopen(os.dup(descriptor), "rb") as file:
        try:
            version = np.lib.format.read_magic(file)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            found_shape, fortran, found_dtype = read_header(file, max_header_size=10_000)
        except (ValueError, SyntaxError, TypeError) as error:
            raise ValueError(f"{path} is not a readable .npy file ({error})") from error
        offset = file.tell()
        size = os.fstat(descriptor).st_size
    if tuple(found_shape) != tuple(shape) or found_dtype != dtype or fortran:
        raise ValueError(f"{path} holds {found_dtype} of shape {found_shape}; the catalogue says {dtype} of shape {shape}")
    if size != offset + dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"{path} is {size} bytes, not what its header says")
    return offset, tuple(shape), dtype


def _runs(rows: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of each run of consecutive values in ascending ``rows``."""
    if not len(rows):
        return
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for run in np.split(rows, breaks):
        yield int(run[0]), int(run[-1]) + 1
