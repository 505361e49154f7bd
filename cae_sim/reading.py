"""Images in, codes out: read images in batches (with a progress bar when asked) and encode them as they come,
or decode them once into a uint8 cache on disk for an encoder that trains on them."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from .encoders.base import Encoder, encode_batches
from .images import READ_BATCH_SIZE, ImageBatch, iter_batches
from .progress import Progress


def read_batches(items: Sequence | np.ndarray, size: int, *, n_jobs: int, verbose: int, skip_errors: bool,
                 title: str) -> Iterator[ImageBatch]:
    """Yield the images as ImageBatch objects of side ``size``, with a progress bar titled ``title`` when verbose."""
    progress = Progress(len(items), title) if verbose and len(items) > 1 else None
    done = 0
    for batch in iter_batches(items, size, READ_BATCH_SIZE, n_jobs, skip_errors):
        done += len(batch.positions) + len(batch.skipped)
        if progress:
            progress.update(done)
        yield batch


def encode_images(encoder: Encoder, items: Sequence | np.ndarray, *, n_jobs: int, verbose: int, skip_errors: bool
                  ) -> tuple[np.ndarray | None, list[int], list[tuple[str, str]]]:
    """Encode the images as they are decoded; return (codes, position of each code's image, skipped files).

    Raises
    ------
    ValueError
        Without ``skip_errors``, on the first image that cannot be read.
    """
    title = "encoding" if skip_errors else "transforming"
    return encode_batches(encoder, read_batches(items, encoder.image_size, n_jobs=n_jobs, verbose=verbose,
                                                skip_errors=skip_errors, title=title))


def read_into_cache(items: Sequence | np.ndarray, size: int, folder: str, *, n_jobs: int, verbose: int
                    ) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode every readable image once into a uint8 memmap in ``folder``; return (pixels, positions, skipped)."""
    pixels = np.lib.format.open_memmap(os.path.join(folder, "images.npy"), mode="w+", dtype=np.uint8,
                                       shape=(len(items), size, size, 3))
    kept, skipped = [], []
    for batch in read_batches(items, size, n_jobs=n_jobs, verbose=verbose, skip_errors=True, title="reading"):
        pixels[len(kept) : len(kept) + len(batch.positions)] = batch.pixels
        kept.extend(batch.positions.tolist())
        skipped.extend(batch.skipped)
    return pixels[: len(kept)], kept, skipped
