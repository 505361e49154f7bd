"""Fuzzing the image reader and the save loader: seed files, mutations, and a worker process that runs each input
under a time and memory bound.

Shared by tests/contracts/test_fuzzing.py (hypothesis draws the mutations) and experiments/fuzz_campaign.py (a seeded random
generator, or atheris, draws them). A mutation draws its choices through a ``Draw``, so each driver shrinks or
replays it in its own way, and every mutant carries a recipe: the steps that made it, one reproducer line.

Run as a script, this module is the worker: it imports the module named on its command line, says ``ready``, then
answers one JSON line per JSON request on stdin (``{"target": ..., "path": ...}``) with the call's outcome.

    python tests/fuzz_reader.py cae_sim.images.decoding
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import re
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Protocol, Sequence, TypeVar

import cv2
import numpy as np

DATA = Path(__file__).resolve().parent.parent / "data"
T = TypeVar("T")

#: Outcomes that keep the contract: an answer, or a clear error naming the file (ValueError for saves only).
CLEAN = frozenset({"decoded", "answered", "ImageReadError", "ValueError", "OSError"})
#: Every outcome a call can have; the worker gives the first eight, the parent the last three.
OUTCOMES = ("decoded", "answered", "ImageReadError", "ValueError", "OSError", "unnamed error", "wrong result",
            "other exception", "crash", "timeout", "over memory")
#: The reader's targets: each reads a file (decode_image its bytes) and must return an image of the checked shape.
READER_TARGETS = ("read_file 64", "read_file None", "read_thumbnail 64", "decode_image 64")
SAVE_TARGET = "load and query"


# ---------------------------------------------------------------- drawing choices


class Draw(Protocol):
    """Where a mutation draws its choices: hypothesis' ``data`` or a seeded random generator."""

    def integer(self, low: int, high: int) -> int:
        """An int in [low, high]."""

    def choice(self, options: Sequence[T]) -> T:
        """One of ``options``."""

    def binary(self, max_size: int) -> bytes:
        """Up to ``max_size`` bytes."""


class RandomDraw:
    """Draws from a seeded ``random.Random``."""

    def __init__(self, rng) -> None:
        self.rng = rng

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def binary(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


class HypothesisDraw:
    """Draws from hypothesis' ``st.data()``, so a failing mutant shrinks."""

    def __init__(self, data) -> None:
        from hypothesis import strategies

        self.data, self.st = data, strategies

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(self.st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self.data.draw(self.st.sampled_from(options))

    def binary(self, max_size: int) -> bytes:
        return self.data.draw(self.st.binary(max_size=max_size))


# ---------------------------------------------------------------- seeds


@dataclass(frozen=True)
class Seed:
    """A real encoded image: its name, the extension its file gets, its bytes, and whether the reader must decode
    it (a format OpenCV reads that is not one of the listed extensions' may be refused)."""

    name: str
    extension: str
    data: bytes
    must_decode: bool = True


def _exif_jpeg(jpeg: bytes) -> bytes:
    """``jpeg`` with an APP1 Exif segment after its SOI: an IFD of one entry, orientation 6 (OpenCV applies it)."""
    # header, IFD at 8 with 1 entry: tag 0x0112 (orientation), type 3 (short), count 1, value 6; no next IFD
    tiff = b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


@functools.cache
def image_seeds() -> tuple[Seed, ...]:
    """Small real files of every kind the reader meets, encoded by OpenCV from a photo of data/.

    Besides the listed extensions' formats, OpenCV decodes by content, so a JPEG 2000, GIF, PNM, PFM, Radiance HDR,
    AVIF or Sun raster file named ``.png`` reaches its decoder too: those are seeds as well. (OpenCV's colour read
    refuses a 32-bit float TIFF, so the reader may too.)
    """
    photo = cv2.imread(str(DATA / "astronaut.jpg"))
    color = cv2.resize(photo, (56, 40), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(color, cv2.COLOR_BGR2GRAY)
    deep = color.astype(np.uint16) * 257
    real = color.astype(np.float32) / 255
    specs = [
        ("jpeg baseline", ".jpg", ".jpg", color, []),
        ("jpeg progressive", ".jpg", ".jpg", color, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
        ("jpeg gray", ".jpg", ".jpeg", gray, []),
        ("jpeg 4:4:4 restarts", ".jpg", ".jpg", color, [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
                                                       cv2.IMWRITE_JPEG_RST_INTERVAL, 2]),
        ("jpeg 512x384", ".jpg", ".jpg", cv2.resize(photo, (512, 384)), [cv2.IMWRITE_JPEG_QUALITY, 60]),
        ("png 8-bit", ".png", ".png", color, []),
        ("png 16-bit", ".png", ".png", deep, []),
        ("png gray", ".png", ".png", gray, []),
        ("png alpha", ".png", ".png", np.dstack([color, gray]), []),
        ("tiff lzw", ".tiff", ".tiff", color, []),
        ("tiff 16-bit raw", ".tiff", ".tif", deep, [cv2.IMWRITE_TIFF_COMPRESSION, 1]),
        ("tiff float", ".tiff", ".tif", real, []),
        ("webp lossy", ".webp", ".webp", color, [cv2.IMWRITE_WEBP_QUALITY, 80]),
        ("webp lossless", ".webp", ".webp", color, [cv2.IMWRITE_WEBP_QUALITY, 101]),
        ("bmp", ".bmp", ".bmp", color, []),
        ("bmp gray", ".bmp", ".bmp", gray, []),
        ("jpeg 2000 as .png", ".jp2", ".png", color, []),
        ("gif as .png", ".gif", ".png", color, []),
        ("ppm as .jpg", ".ppm", ".jpg", color, []),
        ("pam as .png", ".pam", ".png", color, []),
        ("pfm as .png", ".pfm", ".png", real, []),
        ("radiance hdr as .png", ".hdr", ".png", real, []),
        ("avif as .png", ".avif", ".png", color, []),
        ("sun raster as .bmp", ".ras", ".bmp", color, []),
    ]
    seeds = []
    for name, encoding, extension, image, params in specs:
        ok, encoded = cv2.imencode(encoding, image, params)
        assert ok, name
        seeds.append(Seed(name, extension, encoded.tobytes(), must_decode=" as ." not in name and name != "tiff float"))
    seeds.append(Seed("jpeg exif orientation", ".jpg", _exif_jpeg(seeds[0].data)))
    animation = cv2.Animation()
    animation.frames, animation.durations = [color, color[::-1].copy()], [100, 100]
    for name, encoding, extension in (("apng 2 frames", ".png", ".png"), ("webp animated", ".webp", ".webp"),
                                      ("gif 2 frames as .png", ".gif", ".png")):
        ok, encoded = cv2.imencodeanimation(encoding, animation)
        assert ok, name
        seeds.append(Seed(name, extension, encoded.tobytes(), must_decode=" as ." not in name))
    return tuple(seeds)


#: Magic numbers of the formats OpenCV decodes: random bytes after one reach that format's decoder.
SIGNATURES = (b"", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xc0", b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+",
              b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\x00\x00\x00\x00WEBPVP8L", b"BM", b"GIF89a",
              b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51", b"P6\n",
              b"PF\n", b"#?RADIANCE\n", b"\x59\xa6\x6a\x95", b"\x00\x00\x00\x20ftypavif")
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


# ---------------------------------------------------------------- header fields


@dataclass(frozen=True)
class Field:
    """A number in a file's header: ``width`` bytes at ``offset`` in byte ``order`` ("big", "little", or "text" for a
    decimal token); ``crc``: the (start, end) of the bytes a PNG chunk's CRC covers, the CRC right after them."""

    name: str
    offset: int
    width: int
    order: str
    crc: tuple[int, int] | None = None


def header_fields(data: bytes) -> list[Field]:
    """The size, depth and layout fields of an encoded image's header, as far as its format is known here."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return _png_fields(data)
    if data[:2] == b"\xff\xd8":
        return _jpeg_fields(data)
    if data[:2] == b"BM":
        return [Field(f"bmp {name}", offset, width, "little") for name, offset, width in (
            ("data offset", 10, 4), ("width", 18, 4), ("height", 22, 4), ("planes", 26, 2), ("bit count", 28, 2),
            ("compression", 30, 4), ("image size", 34, 4), ("colors used", 46, 4))]
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_fields(data, 0, "tiff")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        fields = [Field("webp riff size", 4, 4, "little"), Field("webp chunk size", 16, 4, "little")]
        if data[12:16] == b"VP8L":
            return fields + [Field("webp vp8l width and height bits", 21, 4, "little")]
        if data[12:16] == b"VP8 ":
            return fields + [Field("webp vp8 width", 26, 2, "little"), Field("webp vp8 height", 28, 2, "little")]
        frame = data.find(b"ANMF")
        return fields + [Field("webp canvas width", 24, 3, "little"), Field("webp canvas height", 27, 3, "little")] + (
            [Field(f"webp frame {name}", frame + offset, 3, "little") for name, offset in (
                ("x", 8), ("y", 11), ("width", 14), ("height", 17))] if frame > 0 else [])
    if data[:3] == b"GIF":
        return _gif_fields(data)
    if data[4:8] == b"jP  ":
        return _jpeg2000_fields(data)
    if data[:1] == b"P" and data[1:2] in b"1234567F":
        names = ("width", "height", "depth", "maxval") if data[1:2] == b"7" else ("width", "height", "maxval or scale")
        tokens = re.compile(rb"-?\d+(\.\d+)?").finditer(data, 2, 64)
        return [Field(f"pnm {name}", match.start(), len(match.group()), "text") for name, match in zip(names, tokens)]
    if data[:2] == b"#?":
        match = re.search(rb"-Y (\d+) \+X (\d+)", data[:256])
        sides = ((1, "height"), (2, "width")) if match else ()
        return [Field(f"hdr {axis}", match.start(group), len(match.group(group)), "text") for group, axis in sides]
    ispe = data.find(b"ispe")
    if data[4:8] == b"ftyp" and ispe > 0:
        return [Field("avif width", ispe + 8, 4, "big"), Field("avif height", ispe + 12, 4, "big")]
    if data[:4] == b"\x59\xa6\x6a\x95":
        return [Field(f"sun raster {name}", offset, 4, "big") for name, offset in (
            ("width", 4), ("height", 8), ("depth", 12), ("length", 16), ("type", 20), ("map type", 24), ("map length", 28))]
    return []


def _png_fields(data: bytes) -> list[Field]:
    """IHDR's fields, and each APNG frame's size and place (fcTL); each with the range of its chunk's CRC."""
    crc = (12, 29)
    fields = [Field("png width", 16, 4, "big", crc), Field("png height", 20, 4, "big", crc),
              Field("png bit depth", 24, 1, "big", crc), Field("png color type", 25, 1, "big", crc),
              Field("png interlace", 28, 1, "big", crc)]
    position = 8
    while position + 8 <= len(data):
        length, kind = int.from_bytes(data[position : position + 4], "big"), data[position + 4 : position + 8]
        if kind == b"fcTL":
            crc = (position + 4, position + 8 + length)
            fields += [Field(f"apng frame {name}", position + offset, 4, "big", crc) for name, offset in (
                ("width", 12), ("height", 16), ("x", 20), ("y", 24))]
        position += 12 + length
    return fields


def _jpeg_fields(data: bytes) -> list[Field]:
    fields, position = [], 2
    while position + 4 <= len(data) and data[position] == 0xFF and data[position + 1] not in (0xD9, 0xDA):
        marker, length = data[position + 1], int.from_bytes(data[position + 2 : position + 4], "big")
        if marker in range(0xC0, 0xD0) and marker not in (0xC4, 0xC8, 0xCC):
            fields += [Field("jpeg precision", position + 4, 1, "big"), Field("jpeg height", position + 5, 2, "big"),
                       Field("jpeg width", position + 7, 2, "big"), Field("jpeg components", position + 9, 1, "big"),
                       Field("jpeg first sampling factors", position + 11, 1, "big")]
        elif marker == 0xE1 and data[position + 4 : position + 10] == b"Exif\x00\x00":
            fields += _tiff_fields(data, position + 10, "exif")
        elif marker == 0xDD:
            fields.append(Field("jpeg restart interval", position + 4, 2, "big"))
        position += 2 + length
    return fields


#: TIFF tags whose value (and count) change how much is read: sizes, depth, layout and where the strips lie.
_TIFF_TAGS = {256: "width", 257: "height", 258: "bits per sample", 259: "compression", 262: "photometric",
              273: "strip offsets", 274: "orientation", 277: "samples per pixel", 278: "rows per strip",
              279: "strip byte counts", 284: "planar configuration", 339: "sample format"}


def _tiff_fields(data: bytes, start: int, kind: str) -> list[Field]:
    """The fields of a TIFF structure that starts at ``start`` (a TIFF file, or a JPEG's Exif block)."""
    order = "little" if data[start : start + 2] == b"II" else "big"
    ifd = start + int.from_bytes(data[start + 4 : start + 8], order)
    fields = [Field(f"{kind} ifd offset", start + 4, 4, order), Field(f"{kind} entry count", ifd, 2, order)]
    for entry in range(ifd + 2, ifd + 2 + 12 * int.from_bytes(data[ifd : ifd + 2], order), 12):
        tag, value_type = int.from_bytes(data[entry : entry + 2], order), int.from_bytes(data[entry + 2 : entry + 4], order)
        name = f"{kind} {_TIFF_TAGS.get(tag, f'tag {tag}')}"
        fields += [Field(f"{name} type", entry + 2, 2, order), Field(f"{name} count", entry + 4, 4, order),
                   Field(f"{name} value", entry + 8, 2 if value_type == 3 else 4, order)]  # 3: SHORT
    return fields


def _gif_fields(data: bytes) -> list[Field]:
    fields = [Field("gif screen width", 6, 2, "little"), Field("gif screen height", 8, 2, "little"),
              Field("gif flags", 10, 1, "little")]
    position = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while position < len(data) and data[position] == 0x21:  # extensions: label, then sub-blocks up to an empty one
        position += 2
        while position < len(data) and data[position]:
            position += data[position] + 1
        position += 1
    if position < len(data) and data[position] == 0x2C:
        fields += [Field(f"gif frame {name}", position + offset, 2, "little") for name, offset in (
            ("left", 1), ("top", 3), ("width", 5), ("height", 7))] + [Field("gif frame flags", position + 9, 1, "little")]
    return fields


def _jpeg2000_fields(data: bytes) -> list[Field]:
    fields = []
    box = data.find(b"ihdr")
    if box > 0:
        fields += [Field("jp2 ihdr height", box + 4, 4, "big"), Field("jp2 ihdr width", box + 8, 4, "big"),
                   Field("jp2 ihdr components", box + 12, 2, "big"), Field("jp2 ihdr depth", box + 14, 1, "big")]
    siz = data.find(b"\xff\x51")
    if siz > 0:
        fields += [Field(f"j2k siz {name}", siz + offset, width, "big") for name, offset, width in (
            ("width", 6, 4), ("height", 10, 4), ("x offset", 14, 4), ("y offset", 18, 4), ("tile width", 22, 4),
            ("tile height", 26, 4), ("components", 38, 2), ("first depth", 40, 1), ("first x subsampling", 41, 1))]
    return fields


def field_values(field: Field, old: int) -> list[int]:
    """Values worth writing into ``field``: edges of its width, sizes past OpenCV's limits, and near the old one."""
    top = 10**12 if field.order == "text" else (1 << (8 * field.width)) - 1
    values = [0, 1, 2, 3, 7, 8, 15, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 24_000, 50_000, 1 << 20, 0x7FFFFFFF,
              0x80000000, 0xFFFFFFFF, old - 1, old + 1, old * 2, old * 100, old * 1000, top]
    return sorted({value for value in values if 0 <= value <= top})


def edit_field(data: bytes, field: Field, value: int, fix_crc: bool) -> bytes:
    """``data`` with ``field`` set to ``value`` (its PNG chunk's CRC made right again with ``fix_crc``)."""
    end = field.offset + field.width
    new = str(value).encode() if field.order == "text" else value.to_bytes(field.width, field.order)
    edited = data[: field.offset] + new + data[end:]
    if field.crc and fix_crc:
        start, stop = field.crc
        edited = edited[:stop] + zlib.crc32(edited[start:stop]).to_bytes(4, "big") + edited[stop + 4 :]
    return edited


def read_field(data: bytes, field: Field) -> int:
    raw = data[field.offset : field.offset + field.width]
    if field.order == "text":
        return int(float(raw)) if raw else 0
    return int.from_bytes(raw, field.order)


# ---------------------------------------------------------------- byte mutations


def mutate_bytes(data: bytes, draw: Draw, region: tuple[int, int] | None = None) -> tuple[bytes, str]:
    """One byte-level mutation of ``data``: truncation, bit flips, an overwritten, inserted or deleted range, or
    whole new bytes; within ``region`` (start, end) where given. Returns the mutant and its recipe."""
    start, end = region or (0, len(data))
    end = max(start + 1, min(end, len(data)))
    kinds = ("truncate", "flip bits", "overwrite", "insert", "delete", "replace all")
    kind = draw.choice(kinds if data else kinds[-1:])
    if kind == "truncate":
        cut = draw.integer(0, len(data) - 1)
        return data[:cut], f"truncate to {cut} bytes"
    if kind == "flip bits":
        mutant = bytearray(data)
        flips = [(draw.integer(start, end - 1), draw.integer(0, 7)) for _ in range(draw.integer(1, 8))]
        for position, bit in flips:
            mutant[position] ^= 1 << bit
        return bytes(mutant), "flip bits (byte, bit) " + " ".join(f"{p},{b}" for p, b in flips)
    if kind == "replace all":
        mutant = draw.binary(4096)
        return mutant, f"replace with {len(mutant)} random bytes {mutant[:16].hex()}..."
    position = draw.integer(start, end - 1)
    if kind == "delete":
        length = draw.integer(1, 256)
        return data[:position] + data[position + length :], f"delete {length} bytes at {position}"
    filler = draw.choice(("random", "zero", "0xff"))
    length = draw.integer(1, 64)
    content = draw.binary(length) if filler == "random" else bytes([0 if filler == "zero" else 0xFF]) * length
    if kind == "insert":
        return data[:position] + content + data[position:], f"insert {content.hex()} at {position}"
    return data[:position] + content + data[position + len(content) :], f"overwrite at {position} with {content.hex()}"


@dataclass
class Mutant:
    """A fuzzed file: the extension its name gets, its bytes, and the steps that made it."""

    extension: str
    data: bytes
    recipe: list[str] = dataclass_field(default_factory=list)

    def write(self, folder: Path, stem: str = "mutant") -> Path:
        path = folder / f"{stem}{self.extension}"
        path.write_bytes(self.data)
        return path


def random_file(draw: Draw) -> Mutant:
    """Random bytes, after a format's magic number or none, under an image extension."""
    signature = draw.choice(SIGNATURES)
    body = draw.binary(4096)
    recipe = f"{len(body)} random bytes after {signature!r}: {body[:24].hex()}..."
    return Mutant(draw.choice(EXTENSIONS), signature + body, [recipe])


def _draw_seed(draw: Draw, seeds: Sequence[Seed]) -> Seed:
    """One of ``seeds``, drawn by name (so a failing example prints a name, not bytes)."""
    by_name = {seed.name: seed for seed in seeds}
    return by_name[draw.choice(list(by_name))]


def header_mutant(draw: Draw, seed: Seed | None = None) -> Mutant:
    """A real file with one or two header fields set to drawn values (PNG CRCs mostly made right again)."""
    seed = seed or _draw_seed(draw, [seed for seed in image_seeds() if header_fields(seed.data)])
    fields = header_fields(seed.data)
    edits = {}
    for _ in range(draw.integer(1, 2)):
        chosen = draw.choice(fields)
        edits[chosen] = draw.choice(field_values(chosen, read_field(seed.data, chosen)))
    data, recipe = seed.data, [f"seed {seed.name!r}"]
    fix_crc = any(chosen.crc for chosen in edits) and draw.integer(0, 4) > 0
    for chosen in sorted(edits, key=lambda chosen: -chosen.offset):  # a decimal token may change length
        data = edit_field(data, chosen, edits[chosen], fix_crc)
    recipe += [f"{chosen.name} (offset {chosen.offset}) = {value}" for chosen, value in edits.items()]
    if fix_crc:
        recipe.append("PNG header CRC fixed")
    return Mutant(seed.extension, data, recipe)


def seed_mutant(draw: Draw) -> Mutant:
    """A real file, maybe with header edits, then one to three byte mutations."""
    seed = _draw_seed(draw, image_seeds())
    if header_fields(seed.data) and draw.integer(0, 2) == 0:
        mutant = header_mutant(draw, seed)
    else:
        mutant = Mutant(seed.extension, seed.data, [f"seed {seed.name!r}"])
    for _ in range(draw.integer(1, 3)):
        mutant.data, step = mutate_bytes(mutant.data, draw)
        mutant.recipe.append(step)
    return mutant


#: How the reader's inputs are made: name → maker.
IMAGE_KINDS = {"random bytes": random_file, "header edits": header_mutant, "mutated files": seed_mutant}


# ---------------------------------------------------------------- saves


def build_save(folder: Path) -> Path:
    """A real small save to mutate: a dhash pipeline of two clusters fitted on small PNG copies of eight photos of
    data/, in ``folder``.

    Returns the save's directory, ``folder / "save"``.
    """
    from cae_sim import Pipeline

    images = folder / "images"
    images.mkdir(parents=True)
    for photo in sorted(DATA.glob("*.jpg"))[:8]:
        small = cv2.resize(cv2.imread(str(photo)), (32, 24), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(images / f"{photo.stem}.png"), small)
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit(images).save(folder / "save")
    return folder / "save"


def save_mutant(save: Path, copy: Path, draw: Draw) -> list[str]:
    """Copy the save ``save`` to ``copy`` and mutate one of its files at the byte level: the manifest's JSON, the
    image paths or a ``.npy`` array (often its header); with a drawn "rehash", the files table is made to agree with
    the mutated file (size, sha256, and the shape and dtype its header still gives) so the loader parses it."""
    shutil.copytree(save, copy)
    names = sorted(path.relative_to(copy).as_posix() for path in copy.rglob("*") if path.is_file())
    name = draw.choice(names)
    data = (copy / name).read_bytes()
    header = name.endswith(".npy") and draw.integer(0, 1) == 1
    mutant, step = mutate_bytes(data, draw, (0, 128) if header else None)
    (copy / name).write_bytes(mutant)
    recipe = [f"{name}: {step}" + (" (in the .npy header)" if header else "")]
    if name != "manifest.json" and draw.integer(0, 3) > 0:
        _rehash(copy, name)
        recipe.append("files table rewritten to agree")
    return recipe


def _rehash(root: Path, name: str) -> None:
    manifest = json.loads((root / "manifest.json").read_bytes())
    data = (root / name).read_bytes()
    entry = manifest["files"][name] | {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if name.endswith(".npy"):
        try:
            with open(root / name, "rb") as file:
                version = np.lib.format.read_magic(file)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(file)
            entry |= {"shape": list(shape), "dtype": dtype.str}
        except Exception:  # a header numpy cannot read: the table keeps the old shape and dtype
            pass
    manifest["files"][name] = entry
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))


# ---------------------------------------------------------------- the worker


@dataclass(frozen=True)
class Outcome:
    """What one call did: one of ``OUTCOMES``, what it said, its time and the worker's peak RSS so far."""

    outcome: str
    detail: str = ""
    seconds: float = 0.0
    max_rss: int = 0

    @property
    def clean(self) -> bool:
        """Whether the call kept the contract."""
        return self.outcome in CLEAN


class Worker:
    """A child process that runs targets one call at a time, each within ``timeout`` seconds, the whole process
    within ``memory`` bytes of address space; it is started again after a crash or a timeout.

    Parameters
    ----------
    module : str
        What the child imports before it says ready (the targets' module, so startup is not timed).
    memory : int
        RLIMIT_AS of the child, in bytes.
    timeout : float
        Seconds a call may take before the child is killed and the call counted a timeout.
    log : Path
        The child's stderr, kept for the tail of a crash's report.
    command : list of str, optional
        The child's command (by default this module as a script).
    """

    def __init__(self, module: str, memory: int, timeout: float, log: Path, command: list[str] | None = None) -> None:
        self.memory, self.timeout, self.log = memory, timeout, log
        self.command = command or [sys.executable, __file__, module]
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def _limit(self) -> None:
        resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def _start(self) -> None:
        environment = os.environ | {"OPENCV_LOG_LEVEL": "ERROR"}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            text=True, env=environment, preexec_fn=self._limit)
        self.starts += 1
        ready = self._reply(120)
        if ready != "ready\n":
            raise RuntimeError(f"the fuzzing worker did not start ({ready!r}): {self._log_tail()}")

    def _reply(self, timeout: float) -> str | None:
        """The child's next line; "" if it died, None if none came within ``timeout``."""
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            return None
        return self.process.stdout.readline()

    def _log_tail(self) -> str:
        return self.log.read_bytes()[-600:].decode(errors="replace").strip()

    def run(self, target: str, path: Path) -> Outcome:
        """Run ``target`` on ``path`` in the child; a crash, a hang or a memory blow is an outcome, never raised."""
        if self.process is None:
            self._start()
        try:
            self.process.stdin.write(json.dumps({"target": target, "path": str(path)}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the child died: the empty reply below says how
        line = self._reply(self.timeout)
        if line:
            return Outcome(**json.loads(line))
        code = self.close()
        if line is None:
            return Outcome("timeout", f"no answer in {self.timeout} s")
        return Outcome("crash", f"{_describe_exit(code)}; stderr: {self._log_tail()}")

    def close(self) -> int | None:
        """Stop the child (it is started again on the next run); return its exit status, None if there was none."""
        if self.process is None:
            return None
        self.process.kill()
        code = self.process.wait()
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        self.process.stdout.close()
        self.process = None
        return code


def _describe_exit(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"


def _image_target(target: str, path: str):
    """Call a reader target; return the image and whether its shape is the one promised."""
    from cae_sim.images import decoding

    if target == "read_file 64":
        image = decoding.read_file(path, 64)
        return image, image.shape == (64, 64, 3)
    if target == "read_file None":
        image = decoding.read_file(path, None)
        return image, image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 1
    if target == "read_thumbnail 64":
        image = decoding.read_thumbnail(path, 64)
        return image, image.ndim == 3 and image.shape[2] == 3 and 1 <= min(image.shape[:2]) <= max(image.shape[:2]) <= 64
    image = decoding.decode_image(Path(path).read_bytes(), 64, path)
    return image, image.shape == (64, 64, 3)


def _load_and_query(path: str) -> None:
    from cae_sim import Pipeline

    query = np.zeros((16, 16, 3), np.uint8)
    loaded = Pipeline.load(path)
    loaded.duplicates()
    loaded.query(query, n=3)
    loaded.predict(query[np.newaxis])


def classify(target: str, path: str) -> tuple[str, str]:
    """Run one target in this process and name its outcome (one of the worker's eight) with a detail."""
    from cae_sim.images.decoding import ImageReadError

    try:
        if target == SAVE_TARGET:
            _load_and_query(path)
            return "answered", ""
        image, shape_ok = _image_target(target, path)
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and shape_ok):
            return "wrong result", f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}"
        return "decoded", f"{image.shape}"
    except MemoryError as error:
        return "over memory", f"MemoryError: {error}"
    except (ValueError, OSError) as error:
        message = f"{type(error).__name__}: {error}"
        kind = ("OSError" if isinstance(error, OSError) else
                "ImageReadError" if isinstance(error, ImageReadError) else "ValueError")
        if kind == "ValueError" and target != SAVE_TARGET:
            return "other exception", message
        return (kind if path in str(error) else "unnamed error"), message
    except Exception as error:  # the contract's breach: anything else
        message = f"{type(error).__module__}.{type(error).__qualname__}: {error}".strip()
        if isinstance(error, cv2.error) and ("Insufficient memory" in str(error) or "Failed to allocate" in str(error)):
            return "over memory", message
        return "other exception", message


def serve() -> None:
    """The worker's loop: one JSON request per line on stdin, one outcome per line on the protocol channel.

    Libraries that print to stdout write to stderr instead, so only replies travel on the channel.
    """
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    importlib.import_module(sys.argv[1])
    channel.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        started = time.perf_counter()
        outcome, detail = classify(request["target"], request["path"])
        seconds = time.perf_counter() - started
        max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        reply = {"outcome": outcome, "detail": detail[:2000], "seconds": seconds, "max_rss": max_rss}
        channel.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    serve()
