"""Find image files and read them into RGB arrays.

Files are decoded with OpenCV from their bytes (so non-ASCII paths work), turned
from BGR into RGB, reduced to 8 bits and 3 channels, and resized to a square of
the requested side. Batches of files are decoded in parallel threads: OpenCV
releases the GIL while it decodes.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import joblib
import numpy as np

from ._checks import check_int

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: How many batches the reading thread may decode ahead of the consumer.
PREFETCH_BATCHES = 2


class ImageReadError(ValueError):
    """An image file or array that cannot be read; the message names it."""


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


# --------------------------------------------------------------------------- sources


def find_images(folder: str | os.PathLike) -> tuple[list[str], list[tuple[str, str]]]:
    """List the image files below a folder, recursively, in sorted order.

    Symbolic links are followed (each real directory is visited once, so a
    link loop ends). Extensions are matched without regard to case.

    Parameters
    ----------
    folder : str or path-like
        The folder to scan.

    Returns
    -------
    paths : list of str
        The image files found.
    skipped : list of (str, str)
        Entries named like images that are not files (directories), with why.

    Raises
    ------
    OSError
        If ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise OSError(f"not a directory: {str(folder)!r}")
    paths, skipped, seen = [], [], set()
    for directory, subdirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen:
            subdirs.clear()
            continue
        seen.add(real)
        subdirs.sort()
        for name in subdirs:
            if _has_image_extension(name):
                skipped.append((os.path.join(directory, name), "is a directory"))
        paths.extend(os.path.join(directory, name) for name in files if _has_image_extension(name))
    return sorted(paths), sorted(skipped)


def _has_image_extension(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def resolve_source(images) -> tuple[Sequence | np.ndarray, list[str] | None, list[tuple[str, str]]]:
    """Turn what a user passes as images into something batches can be read from.

    Parameters
    ----------
    images : str, path-like, sequence of str / path-like, or ndarray
        A folder (scanned recursively), one image file, a list of image files,
        or an array of shape (N, H, W) or (N, H, W, C).

    Returns
    -------
    items : list of str or ndarray
        The file paths or the array of images.
    paths : list of str or None
        The file paths, or None for array input.
    skipped : list of (str, str)
        Entries of a folder that are not readable files.

    Raises
    ------
    ValueError
        If ``images`` is empty, or an array of the wrong shape or dtype.
    OSError
        If a path given does not exist.
    """
    if isinstance(images, np.ndarray):
        check_image_array(images)
        return images, None, []
    if isinstance(images, (str, os.PathLike)):
        if os.path.isdir(images):
            paths, skipped = find_images(images)
            if not paths:
                raise ValueError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in folder {str(images)!r}")
            return paths, paths, skipped
        if not os.path.lexists(images):
            raise OSError(f"no such file or folder: {str(images)!r}")
        return [os.fspath(images)], [os.fspath(images)], []
    if isinstance(images, Sequence) and all(isinstance(p, (str, os.PathLike)) for p in images):
        if not images:
            raise ValueError("the list of image paths is empty")
        paths = [os.fspath(p) for p in images]
        return paths, paths, []
    raise ValueError(
        "images must be a folder, an image path, a list of paths or an array of shape "
        f"(N, H, W) or (N, H, W, C); got {type(images).__name__}"
    )


def check_image_array(images: np.ndarray) -> None:
    """Check that an array holds a batch of images.

    Raises
    ------
    ValueError
        If the array is not (N, H, W) or (N, H, W, C) with C in 1, 3, 4, is
        empty, has a dtype other than uint8, uint16 or float, or holds NaN or
        floats outside [0, 1].
    """
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3, 4)):
        raise ValueError(f"expected an image array of shape (N, H, W) or (N, H, W, C) with C in 1, 3, 4; got shape {images.shape}")
    if 0 in images.shape:
        raise ValueError(f"the image array is empty: shape {images.shape}")
    if images.dtype not in (np.uint8, np.uint16) and not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"expected image dtype uint8, uint16 or float in [0, 1]; got {images.dtype}")
    if np.issubdtype(images.dtype, np.floating):
        if np.isnan(images).any():
            raise ValueError("the image array holds NaN values")
        low, high = images.min(), images.max()
        if low < 0 or high > 1:
            raise ValueError(f"float images must lie in [0, 1]; got values in [{low}, {high}]")


def _evenly(items: Sequence | np.ndarray, sample: int):
    """At most ``sample`` items, spread evenly over the sequence."""
    return items[:: max(1, len(items) // sample)][:sample]


def typical_side(items: Sequence | np.ndarray, sample: int = 16) -> int:
    """Median of the shorter side over (a sample of) the images; 0 if none can be read.

    Arrays give their own shape. Files are sampled evenly; JPEGs are measured from
    their header, other files are decoded.
    """
    if isinstance(items, np.ndarray):
        return int(min(items.shape[1:3]))
    sides = []
    for path in _evenly(items, sample):
        try:
            data = np.fromfile(path, dtype=np.uint8)
            dimensions = _jpeg_dimensions(data) or cv2.imdecode(data, cv2.IMREAD_UNCHANGED).shape[:2]
            sides.append(min(dimensions))
        except (OSError, AttributeError, cv2.error):  # unreadable: fit will skip and report it
            continue
    return int(np.median(sides)) if sides else 0


#: Mean difference between an image's channels (of 255) above which it counts as a colour image.
COLOUR_THRESHOLD = 2.0


def is_colour(items: Sequence | np.ndarray, sample: int = 16) -> bool:
    """Whether at least half of (an even sample of) the images are in colour; False if none can be read.

    An image is in colour when its RGB channels differ by more than
    ``COLOUR_THRESHOLD`` (2 of 255) on average (a dark photo of the night sky
    measures 2.7); gray images stored as RGB are not.
    """
    votes = []
    for item in _evenly(items, sample):
        try:
            rgb = to_rgb_uint8(item) if isinstance(items, np.ndarray) else read_file(item, 64)
        except (OSError, ValueError):  # unreadable: fit will skip and report it
            continue
        rgb = rgb.astype(np.int16)
        votes.append(np.abs(rgb - rgb[..., [1, 2, 0]]).mean() > COLOUR_THRESHOLD)
    return bool(votes) and float(np.mean(votes)) >= 0.5


# --------------------------------------------------------------------------- decoding


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Bring one RGB(A) or gray image array to 8-bit, 3-channel RGB.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C), C in 1, 3, 4
        uint8, uint16, or float in [0, 1]. Alpha is dropped.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
    """
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if image.ndim == 2 or image.shape[-1] == 1:
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=-1)
    return np.ascontiguousarray(image)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an image to ``size`` × ``size`` (area averaging when shrinking)."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    shrinking = height * width > size * size
    out = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return out.reshape(size, size, -1) if out.ndim == 2 else out


def decode_image(data: bytes | np.ndarray, size: int | None, name: str = "<bytes>") -> np.ndarray:
    """Decode an encoded image (JPEG, PNG, ...) into a resized RGB uint8 array.

    Parameters
    ----------
    data : bytes or 1-d uint8 ndarray
        The file's content.
    size : int or None
        Side of the square output; None keeps the image's own size.
    name : str
        Used in error messages.

    Returns
    -------
    ndarray of shape (size, size, 3), uint8

    Raises
    ------
    ImageReadError
        If the data is empty, not an image, or a truncated JPEG.
    """
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if buffer.size == 0:
        raise ImageReadError(f"{name}: empty file")
    if _is_truncated_jpeg(buffer):
        raise ImageReadError(f"{name}: truncated JPEG (no end-of-image marker after the last scan)")
    # IMREAD_COLOR (and its REDUCED variants) applies the EXIF orientation and gives
    # 8-bit BGR whatever the file holds: gray, alpha and 16-bit are converted by OpenCV.
    bgr = cv2.imdecode(buffer, _decode_flag(buffer, size))
    if bgr is None:
        raise ImageReadError(f"{name}: not a decodable image")
    return cv2.cvtColor(bgr if size is None else resize(bgr, size), cv2.COLOR_BGR2RGB)


_REDUCED_FLAGS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
# Start-of-frame markers carry the image size; C4 (Huffman tables), C8 and CC (arithmetic tables) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _decode_flag(buffer: np.ndarray, size: int | None) -> int:
    """Decode a large JPEG at 1/2, 1/4 or 1/8 scale when it stays at least ``size`` on each side.

    libjpeg then skips most of the inverse DCT: several times faster, and the
    area resize that follows sees the same image content.
    """
    dimensions = _jpeg_dimensions(buffer) if size is not None else None
    if dimensions:
        for factor, flag in _REDUCED_FLAGS:
            if min(dimensions) // factor >= size:
                return flag
    return cv2.IMREAD_COLOR


def _jpeg_dimensions(buffer: np.ndarray) -> tuple[int, int] | None:
    """Return (height, width) from a JPEG's start-of-frame segment, or None if not a JPEG."""
    data = buffer[:65536].tobytes()  # the frame header comes before any image data
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 9 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _SOF_MARKERS:
            return int.from_bytes(data[position + 5 : position + 7], "big"), int.from_bytes(data[position + 7 : position + 9], "big")
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def _is_truncated_jpeg(buffer: np.ndarray) -> bool:
    if buffer[:2].tobytes() != b"\xff\xd8":
        return False
    data = buffer.tobytes()
    # Entropy-coded data escapes 0xFF bytes, so these two markers are real ones.
    return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


def read_file(path: str, size: int | None) -> np.ndarray:
    """Read one image file into an RGB uint8 array, resized unless ``size`` is None.

    Raises
    ------
    OSError
        If the file does not exist.
    ImageReadError
        If it exists but cannot be decoded (the message says why).
    """
    if not os.path.exists(path):
        if os.path.islink(path):
            raise ImageReadError(f"{path}: broken symbolic link")
        raise FileNotFoundError(f"no such image file: {path!r}")
    if os.path.isdir(path):
        raise ImageReadError(f"{path}: is a directory")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise ImageReadError(f"{path}: cannot be read ({error.strerror or error})") from error
    return decode_image(data, size, name=path)


def read_image(image, size: int | None = None) -> np.ndarray:
    """Read one image into a float32 RGB array in [0, 1].

    Parameters
    ----------
    image : str, path-like or ndarray
        An image file, or an array of shape (H, W) or (H, W, C) with C in 1, 3, 4
        (uint8, uint16, or float in [0, 1]), taken as RGB(A).
    size : int, optional
        Resize to ``size`` × ``size``; keep the image's own size when None.

    Returns
    -------
    ndarray of shape (H, W, 3), float32, values in [0, 1]

    Raises
    ------
    ValueError
        If the image cannot be read or the array has a wrong shape or dtype.
    OSError
        If the file does not exist.
    """
    if size is not None:
        check_int("size", size)
    if isinstance(image, np.ndarray):
        check_image_array(image[np.newaxis])
        rgb = to_rgb_uint8(image)
        pixels = rgb if size is None else resize(rgb, size)
    elif isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        pixels = read_file(path, size)
    else:
        raise ValueError(f"expected an image path or array, got {type(image).__name__}")
    return pixels.astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- batches


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
