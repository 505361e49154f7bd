"""Read many images in batches, decoding in parallel threads ahead of the caller.

OpenCV releases the GIL while it decodes, so threads decode files side by side;
a background thread keeps a few batches ready while the caller encodes the last.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import joblib
import numpy as np

from .decoding import ImageReadError, read_file, resize, to_rgb_uint8

#: Images per batch when a pipeline reads and encodes (training batches are the encoder's own).
READ_BATCH_SIZE = 256
#: How many batches the reading thread may decode ahead of the consumer.
PREFETCH_BATCHES = 2


@dataclass
class ImageBatch:
    """A batch of decoded images.

    Attributes
    ----------
    pixels : ndarray of shape (n, size, size, 3), uint8
        The readable images of the batch, RGB.
    positions : ndarray of shape (n,), int
        Position of each readable image in the source.
    skipped : list of (str, str)
        ``(path, reason)`` of every unreadable file of the batch.
    """

    pixels: np.ndarray
    positions: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)


def iter_batches(
    items: Sequence | np.ndarray,
    size: int,
    batch_size: int = 64,
    n_jobs: int = -1,
    skip_errors: bool = True,
) -> Iterator[ImageBatch]:
    """Read images in batches, decoding the next batches while the caller works.

    Parameters
    ----------
    items : sequence of str or ndarray
        File paths, or an array of images (N, H, W[, C]).
    size : int
        Side of the square images produced.
    batch_size : int
        Images per batch.
    n_jobs : int
        Decoding threads (joblib convention: -1 means one per core).
    skip_errors : bool
        Skip unreadable files, listing them in ``ImageBatch.skipped``;
        when False the first unreadable file raises.

    Yields
    ------
    ImageBatch
    """
    starts = range(0, len(items), batch_size)
    if isinstance(items, np.ndarray):
        for start in starts:
            chunk = items[start : start + batch_size]
            pixels = np.stack([resize(to_rgb_uint8(image), size) for image in chunk])
            yield ImageBatch(pixels, np.arange(start, start + len(chunk)))
        return

    if len(items) == 1:  # one file (a query): starting threads would cost more than decoding it
        yield _collect([_read_or_reason(items[0], size, skip_errors)], items, 0, size)
        return

    def read_batches() -> Iterator[ImageBatch]:
        with joblib.Parallel(n_jobs=n_jobs, prefer="threads") as parallel:
            # one task per thread and batch: joblib's per-task cost is close to a small JPEG's decode time
            n_tasks = joblib.effective_n_jobs(n_jobs)
            for start in starts:
                chunk = items[start : start + batch_size]
                parts = [chunk[i::n_tasks] for i in range(n_tasks)]
                done = parallel(joblib.delayed(_read_all_or_reasons)(part, size, skip_errors) for part in parts)
                results = [None] * len(chunk)
                for i, part_results in enumerate(done):
                    results[i::n_tasks] = part_results
                yield _collect(results, chunk, start, size)

    yield from _prefetch(read_batches(), PREFETCH_BATCHES)


def _read_all_or_reasons(paths: Sequence[str], size: int, skip_errors: bool) -> list[np.ndarray | str]:
    return [_read_or_reason(path, size, skip_errors) for path in paths]


def _read_or_reason(path: str, size: int, skip_errors: bool) -> np.ndarray | str:
    try:
        return read_file(path, size)
    except ImageReadError as error:
        if not skip_errors:
            raise
        return str(error).removeprefix(f"{path}: ")
    except OSError as error:
        if not skip_errors:
            raise
        return f"cannot be read ({error.strerror or error})"


def _collect(results: list, chunk: Sequence[str], start: int, size: int) -> ImageBatch:
    good = [i for i, result in enumerate(results) if isinstance(result, np.ndarray)]
    pixels = np.stack([results[i] for i in good]) if good else np.empty((0, size, size, 3), np.uint8)
    skipped = [(chunk[i], results[i]) for i in range(len(chunk)) if not isinstance(results[i], np.ndarray)]
    return ImageBatch(pixels, np.asarray(good, dtype=np.int64) + start, skipped)


def _prefetch(iterator: Iterator, depth: int) -> Iterator:
    """Run ``iterator`` in a background thread, ``depth`` items ahead of the caller."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put(item)
            items.put(done)
        except BaseException as error:  # handed to the consumer, re-raised there
            items.put(error)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
