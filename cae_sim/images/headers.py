"""An image's size from its file header, read before anything is decoded.

Every format cae_sim decodes is recognised here (JPEG, PNG, TIFF and BigTIFF, WebP, BMP, GIF, PNM/PAM/PFM, Sun
raster, JPEG 2000, Radiance HDR, AVIF), so a file whose header declares an enormous image is refused before OpenCV
allocates it.
"""

from __future__ import annotations

import re
import struct

import numpy as np

# Start-of-frame markers carry the image size; C4 (Huffman tables), C8 and CC (arithmetic tables) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TIFF_WIDTH, _TIFF_LENGTH = 256, 257
_RADIANCE_SIZE = re.compile(rb"\n([-+][XY]) (\d+) ([-+][XY]) (\d+)\n")
_PNM_NUMBERS = re.compile(rb"^P[1-6](?:\s+|#[^\n]*\n)*(\d+)(?:\s+|#[^\n]*\n)*(\d+)")


def image_dimensions(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """Return (height, width) as the file's header declares it, or None if the format is not recognised.

    Parameters
    ----------
    data : bytes or 1-d uint8 ndarray
        The file's content (TIFF keeps its header where its first directory is, so all of it).

    Returns
    -------
    (int, int) or None
        None also when a recognised header is cut short.
    """
    buffer = memoryview(data).cast("B")
    for reader in (jpeg_dimensions, _png, _tiff, _webp, _bmp, _gif, _pnm, _sun_raster, _jpeg2000, _radiance, _avif):
        try:
            dimensions = reader(buffer)
        except (struct.error, IndexError, KeyError, OverflowError, ValueError):  # a header cut short or out of range
            return None
        if dimensions is not None:
            return dimensions
    return None


def jpeg_dimensions(data: bytes | np.ndarray | memoryview) -> tuple[int, int] | None:
    """Return (height, width) from a JPEG's start-of-frame segment, or None if not a JPEG (or cut short)."""
    data = memoryview(data).cast("B")
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


def _png(data: memoryview) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    if data[12:16] != b"IHDR":
        raise ValueError("no IHDR chunk first")
    width, height = struct.unpack(">II", data[16:24])
    return height, width


def _tiff(data: memoryview) -> tuple[int, int] | None:
    magic = bytes(data[:4])
    if magic not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return None
    order, big = "<" if magic[:2] == b"II" else ">", b"+" in magic
    offset = struct.unpack(order + "Q", data[8:16])[0] if big else struct.unpack(order + "I", data[4:8])[0]
    count_format, entry_size = ("Q", 20) if big else ("H", 12)
    count = struct.unpack_from(order + count_format, data, offset)[0]
    start = offset + struct.calcsize(count_format)
    found = {}
    for entry in range(min(count, (len(data) - start) // entry_size)):
        position = start + entry * entry_size
        tag, kind = struct.unpack_from(order + "HH", data, position)
        if tag in (_TIFF_WIDTH, _TIFF_LENGTH):
            value_at = position + (12 if big else 8)
            value_format = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if value_format is None:
                raise ValueError(f"TIFF size tag of type {kind}")
            found[tag] = struct.unpack_from(order + value_format, data, value_at)[0]
    if len(found) < 2:
        raise ValueError("TIFF without its size tags")
    return found[_TIFF_LENGTH], found[_TIFF_WIDTH]


def _webp(data: memoryview) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return height & 0x3FFF, width & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return ((bits >> 14) & 0x3FFF) + 1, (bits & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[27:30], "little") + 1, int.from_bytes(data[24:27], "little") + 1
    raise ValueError(f"WebP chunk {chunk!r}")


def _bmp(data: memoryview) -> tuple[int, int] | None:
    if data[:2] != b"BM":
        return None
    if struct.unpack("<I", data[14:18])[0] == 12:  # the OS/2 core header
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return abs(height), abs(width)  # a negative height: rows stored top-down


def _gif(data: memoryview) -> tuple[int, int] | None:
    if bytes(data[:6]) not in (b"GIF87a", b"GIF89a"):
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return height, width


def _pnm(data: memoryview) -> tuple[int, int] | None:
    data = bytes(data[:4096])
    if data[:2] in (b"PF", b"Pf"):
        width, height = data[2:200].split()[:2]
        return int(height), int(width)
    if data[:2] == b"P7":
        fields = dict(re.findall(rb"(WIDTH|HEIGHT)\s+(\d+)", data))
        return int(fields[b"HEIGHT"]), int(fields[b"WIDTH"])
    if len(data) > 1 and data[:1] == b"P" and data[1:2] in b"123456":
        numbers = _PNM_NUMBERS.match(data[:4096])
        if numbers is None:
            raise ValueError("PNM header without its size")
        return int(numbers[2]), int(numbers[1])
    return None


def _sun_raster(data: memoryview) -> tuple[int, int] | None:
    if data[:4] != b"\x59\xa6\x6a\x95":
        return None
    width, height = struct.unpack(">II", data[4:12])
    return height, width


def _jpeg2000(data: memoryview) -> tuple[int, int] | None:
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n":  # the JP2 file format: the image header box
        start = bytes(data[:4096]).find(b"ihdr")
        if start < 0:
            raise ValueError("JP2 without its image header")
        height, width = struct.unpack(">II", data[start + 4 : start + 12])
        return height, width
    if data[:4] == b"\xff\x4f\xff\x51":  # a bare codestream: its SIZ segment
        width, height, left, top = struct.unpack(">IIII", data[8:24])
        return height - top, width - left
    return None


def _radiance(data: memoryview) -> tuple[int, int] | None:
    if data[:2] != b"#?":
        return None
    size = _RADIANCE_SIZE.search(bytes(data[:4096]))
    if size is None:
        raise ValueError("Radiance HDR without its resolution line")
    axes = {size[1][1:]: int(size[2]), size[3][1:]: int(size[4])}
    return axes[b"Y"], axes[b"X"]


def _avif(data: memoryview) -> tuple[int, int] | None:
    if data[4:8] != b"ftyp" or bytes(data[8:12]) not in (b"avif", b"avis"):
        return None
    head = bytes(data[:65536])
    sizes = [struct.unpack(">II", head[m.end() + 4 : m.end() + 12]) for m in re.finditer(b"ispe", head)]
    if not sizes:
        raise ValueError("AVIF without its image size")
    width, height = max(sizes, key=lambda size: size[0] * size[1])  # the largest image it holds
    return height, width
