"""Decode one image (a file, its bytes, or an array) into an RGB uint8 array of a given side.

Files are decoded with OpenCV from their bytes (so non-ASCII paths work), turned
from BGR into RGB, reduced to 8 bits and 3 channels, and resized to a square of
the requested side. Large JPEGs are decoded at a reduced scale straight away.

Reading is bounded: only regular files are opened (never blocking on a FIFO or device), a file larger than
``max_bytes`` is not read, and an image whose header declares more than ``max_pixels`` is not decoded (see
``read_limits``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NamedTuple

import cv2
import numpy as np

from .._checks import check_int
from .._files import NotRegularFileError, open_regular_file
from .headers import image_dimensions

#: Default of ``max_pixels``: above the largest camera sensors (about 102 megapixels).
MAX_PIXELS = 128_000_000
#: Default of ``max_bytes``: above a 128-megapixel PNG or TIFF.
MAX_FILE_BYTES = 512 * 2**20
#: The most scans a JPEG may have: a progressive JPEG has about 10, and each costs a pass over the whole image.
MAX_JPEG_SCANS = 100
PIXELS_VARIABLE, BYTES_VARIABLE = "CAE_SIM_MAX_PIXELS", "CAE_SIM_MAX_FILE_BYTES"


class ReadLimits(NamedTuple):
    """The most pixels an image may declare and the most bytes an image file may hold to be read."""

    max_pixels: int
    max_bytes: int


def read_limits() -> ReadLimits:
    """The limits in force: ``MAX_PIXELS`` and ``MAX_FILE_BYTES``, or the environment variables
    ``CAE_SIM_MAX_PIXELS`` and ``CAE_SIM_MAX_FILE_BYTES`` where they are set.

    Raises
    ------
    ValueError
        If a variable is set to anything but a positive integer.
    """
    return ReadLimits(_limit(PIXELS_VARIABLE, MAX_PIXELS), _limit(BYTES_VARIABLE, MAX_FILE_BYTES))


def _limit(variable: str, default: int) -> int:
    value = os.environ.get(variable, "").strip().replace("_", "")
    if not value:
        return default
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"{variable} must be a positive integer; got {os.environ[variable]!r}")
    return int(value)


class ImageReadError(ValueError):
    """An image file or array that cannot be read; the message names it."""


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
        If the data is empty, not an image of a known format, a truncated JPEG, an image of more pixels than
        ``read_limits().max_pixels``, or OpenCV fails on it.
    """
    bgr = _decode_bgr(data, size, name)
    return cv2.cvtColor(bgr if size is None else resize(bgr, size), cv2.COLOR_BGR2RGB)


def _decode_bgr(data: bytes | np.ndarray, size: int | None, name: str) -> np.ndarray:
    """Decode to 8-bit BGR, at a reduced scale when the image stays at least ``size`` on each side."""
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if buffer.size == 0:
        raise ImageReadError(f"{name}: empty file")
    dimensions = image_dimensions(buffer)
    if dimensions is None:
        raise ImageReadError(f"{name}: not a decodable image")  # no header of a format it knows
    _check_pixels(name, *dimensions)
    if _is_jpeg(buffer):
        _check_jpeg_scans(buffer, name)
        reductions = _REDUCED_FLAGS
    else:
        if _is_animated_png(buffer):
            buffer = _still_png(buffer)
        reductions = _HALVED_FLAGS if dimensions[0] * dimensions[1] > HALVED_READ_PIXELS else ()
    # IMREAD_COLOR (and its REDUCED variants) applies the EXIF orientation and gives
    # 8-bit BGR whatever the file holds: gray, alpha and 16-bit are converted by OpenCV.
    try:
        bgr = cv2.imdecode(buffer, _decode_flag(dimensions, size, reductions))
    except cv2.error as error:
        raise ImageReadError(f"{name}: OpenCV cannot decode it ({_first_line(error)})") from None
    if bgr is None:
        raise ImageReadError(f"{name}: not a decodable image")
    _check_pixels(name, *bgr.shape[:2])  # a header that differs from what OpenCV read
    return bgr


def _check_pixels(name: str, height: int, width: int) -> None:
    max_pixels = read_limits().max_pixels
    if height * width > max_pixels:
        raise ImageReadError(f"{name}: {width} × {height} = {width * height:,} pixels, over the limit of "
                             f"{max_pixels:,} (max_pixels; set {PIXELS_VARIABLE} to change it)")
    if height * width == 0:
        raise ImageReadError(f"{name}: its header declares an empty image ({width} × {height})")


def _first_line(error: cv2.error) -> str:
    """OpenCV's message without its source location: the part after 'error: (-N:Kind)'."""
    message = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
    return message.split(") ", 1)[-1].strip() if message.startswith("error: (") else message


_REDUCED_FLAGS = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))
_HALVED_FLAGS = ((2, cv2.IMREAD_REDUCED_COLOR_2),)
#: Images of other formats than JPEG above this many pixels are read at half size where that stays larger than the
#: target (memory: one full-size copy instead of two); smaller ones are read whole, so their pixels stay exactly those
#: of an area resize of the whole image.
HALVED_READ_PIXELS = 2**24


def _decode_flag(dimensions: tuple[int, int], size: int | None, reductions: tuple[tuple[int, int], ...]) -> int:
    """The first of ``reductions`` (factor, flag) that leaves the image at least ``size`` on each side.

    A JPEG is decoded at 1/2, 1/4 or 1/8 scale: libjpeg skips most of the inverse DCT, several times faster, and
    the area resize that follows sees the same image content. OpenCV reads other formats whole and then shrinks
    them (linearly), which holds one full-size image instead of two; only halving is used there (for images over
    ``HALVED_READ_PIXELS``), where a linear shrink averages 2 × 2 pixels as the area resize would (at 1/4 and 1/8 it
    would skip pixels).
    """
    if size is not None:
        for factor, flag in reductions:
            if min(dimensions) // factor >= size:
                return flag
    return cv2.IMREAD_COLOR


def _is_jpeg(buffer: np.ndarray) -> bool:
    return buffer[:2].tobytes() == b"\xff\xd8"


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ANIMATION_CHUNKS = frozenset({b"acTL", b"fcTL", b"fdAT"})


def _png_chunks(data: memoryview) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, type) of each chunk of a PNG, in order, up to where the data or a chunk's length ends."""
    position = len(_PNG_SIGNATURE)
    while position + 12 <= len(data):
        end = position + 12 + int.from_bytes(data[position : position + 4], "big")
        yield position, end, bytes(data[position + 4 : position + 8])
        position = end


def _is_animated_png(buffer: np.ndarray) -> bool:
    """Whether a PNG announces an animation (an ``acTL`` chunk before its image data), as APNG decoders read it."""
    data = memoryview(buffer).cast("B")
    if data[: len(_PNG_SIGNATURE)] != _PNG_SIGNATURE:
        return False
    for _, _, kind in _png_chunks(data):
        if kind in (b"acTL", b"IDAT"):
            return kind == b"acTL"
    return False


def _still_png(buffer: np.ndarray) -> np.ndarray:
    """The PNG's still image alone, its animation chunks left out: what a decoder without APNG shows.

    OpenCV 5.1 crashes (a segmentation fault) on some damaged animations; a still PNG is decoded by libpng alone.
    """
    data = memoryview(buffer).cast("B")
    kept, end = [data[: len(_PNG_SIGNATURE)]], len(_PNG_SIGNATURE)
    for start, end, kind in _png_chunks(data):
        if kind not in _ANIMATION_CHUNKS:
            kept.append(data[start:end])
    kept.append(data[end:])  # whatever follows the last whole chunk
    return np.frombuffer(b"".join(kept), np.uint8)


def _check_jpeg_scans(buffer: np.ndarray, name: str) -> None:
    """Refuse a truncated JPEG, and one of more than ``MAX_JPEG_SCANS`` scans: libjpeg passes over every block of
    the image once a scan, so a few bytes a scan would keep it busy for minutes."""
    data = buffer.tobytes()
    # Entropy-coded data escapes 0xFF bytes, so these two markers are real ones.
    if data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ImageReadError(f"{name}: truncated JPEG (no end-of-image marker after the last scan)")
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise ImageReadError(f"{name}: a JPEG of {scans:,} scans, over the limit of {MAX_JPEG_SCANS} "
                             f"(a progressive JPEG has about 10)")


def read_file(path: str, size: int | None) -> np.ndarray:
    """Read one image file into an RGB uint8 array, resized unless ``size`` is None.

    Raises
    ------
    OSError
        If the file does not exist.
    ImageReadError
        If it exists but cannot be decoded (the message says why).
    """
    return decode_image(read_file_bytes(path), size, name=path)


def read_thumbnail(path: str, side: int) -> np.ndarray:
    """Read one image file into an RGB uint8 array whose longer side is at most ``side``, its shape kept.

    Large JPEGs are decoded at a reduced scale, so a thumbnail of a photo costs a fraction of a full decode.

    Raises
    ------
    OSError
        If the file does not exist.
    ImageReadError
        If it exists but cannot be decoded (the message says why).
    """
    side = check_int("side", side)
    bgr = _decode_bgr(read_file_bytes(path), side, path)
    height, width = bgr.shape[:2]
    if max(height, width) > side:
        scale = side / max(height, width)
        shape = (max(1, round(width * scale)), max(1, round(height * scale)))
        bgr = cv2.resize(bgr, shape, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_file_bytes(path: str) -> np.ndarray:
    """Return the content of an image file as a 1-d uint8 array.

    Only a regular file of at most ``read_limits().max_bytes`` is read; nothing blocks on a FIFO or device.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ImageReadError
        If it is a broken link, not a regular file, over the byte limit, or cannot be read.
    """
    max_bytes = read_limits().max_bytes
    try:
        with open_regular_file(path) as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise ImageReadError(f"{path}: {size:,} bytes, over the limit of {max_bytes:,} "
                                     f"(max_bytes; set {BYTES_VARIABLE} to change it)")
            buffer = np.empty(size, np.uint8)
            return buffer[: file.readinto(buffer)]  # a file that shrank since fstat gives what it holds
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageReadError(f"{path}: broken symbolic link") from None
        raise FileNotFoundError(f"no such image file: {path!r}") from None
    except NotRegularFileError as error:
        raise ImageReadError(f"{path}: {error.strerror}") from None
    except OSError as error:
        raise ImageReadError(f"{path}: cannot be read ({error.strerror or error})") from error


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
