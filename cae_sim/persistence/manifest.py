"""A save's manifest: its format and version, what it holds, and a table of its files with their size and sha256.

Loading checks what is cheap to check (the manifest, every small file's hash, every large array's size and
``.npy`` header); ``verify_files`` checks every byte. File names are relative to the save and stay inside it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import struct
from pathlib import Path
from tokenize import TokenError
from typing import BinaryIO

import numpy as np

from .._files import NotRegularFileError, file_sha256, open_regular_file, write_atomically
from .._json import from_json, to_json

FORMAT = "cae_sim.pipeline"
VERSION = 2
MANIFEST = "manifest.json"
#: ``.npy`` arrays up to this size are hash-checked on every load; larger ones by size and header until ``verify``.
SMALL_FILE_BYTES = 1 << 20
#: The largest JSON file (the manifest, a member's description) a load reads.
MAX_JSON_BYTES = 64 << 20
#: The dtypes a save's arrays may have.
ARRAY_KINDS = "biuf"


def damaged(root: Path, what: str) -> ValueError:
    """The error of a save that is not as its manifest says."""
    return ValueError(f"damaged save {str(root)!r}: {what}")


#: The longest ``.npy`` header a save may hold (numpy's own limit when it parses one).
MAX_NPY_HEADER = 10_000


def describe_files(root: Path) -> dict[str, dict]:
    """The files table of a save being written: every file below ``root`` with its size and sha256, and the shape
    and dtype of each ``.npy`` array."""
    table = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        entry = {"size": path.stat().st_size, "sha256": file_sha256(path)}
        if path.suffix == ".npy":
            with open(path, "rb") as file:
                shape, dtype, _ = _npy_header(file)
            entry |= {"shape": list(shape), "dtype": dtype.str}
        table[path.relative_to(root).as_posix()] = entry
    return table


def write_manifest(root: Path, manifest: dict) -> None:
    """Write ``manifest`` as the save's manifest, durably."""
    data = json.dumps(manifest, indent=1, default=to_json).encode()
    write_atomically(root / MANIFEST, lambda file: file.write(data))


def read_manifest(root: Path) -> dict:
    """Read a save's manifest, as written (any version).

    Raises
    ------
    OSError
        If ``root`` is not a directory.
    ValueError
        If it is not a cae_sim save, or its manifest cannot be read.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"no such save directory: {str(root)!r}")
    if not (root / MANIFEST).is_file():
        raise ValueError(f"{str(root)!r} is not a cae_sim save: it has no {MANIFEST}")
    try:
        manifest = json.loads(read_small(root, MANIFEST, MAX_JSON_BYTES).decode("utf-8"), object_hook=from_json)
    except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as error:  # bad JSON, too deep, or a
        raise damaged(root, f"{MANIFEST} cannot be read ({error})") from error  # parameter naming no encoder
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(root)!r} is not a cae_sim save: its {MANIFEST} has no format {FORMAT!r}")
    if not isinstance(manifest.get("version"), int) or not 1 <= manifest["version"] <= VERSION:
        raise ValueError(f"save {str(root)!r} has format version {manifest.get('version')!r}; "
                         f"this cae_sim reads versions 1 to {VERSION}")
    return manifest


def check_fields(root: Path, manifest: dict) -> None:
    """Raise ValueError naming the first field of a current-format manifest that lacks or has the wrong JSON type."""

    def component(value) -> bool:
        return isinstance(value, dict) and isinstance(value["name"], str) and isinstance(value["config"], dict)

    def strings(value, length=None) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value) and length in (None, len(value))

    model, collection = manifest.get("model"), manifest.get("collection")
    checks = {
        "params": lambda: isinstance(manifest["params"], dict),
        "model.encoder": lambda: component(model["encoder"]),
        "model.encoder_choice": lambda: isinstance(model["encoder_choice"], str),
        "model.choices": lambda: isinstance(model["choices"], dict),
        "model.clustering": lambda: component(model["clustering"]) and isinstance(model["clustering"]["scores"], dict)
        and strings(model["clustering"]["shared"]),
        "collection.size": lambda: isinstance(collection["size"], int) and not isinstance(collection["size"], bool),
        "collection.labels": lambda: isinstance(collection["labels"], str),
        "collection.paths": lambda: collection["paths"] is None or isinstance(collection["paths"], str)
        or strings(collection["paths"]),
        "collection.index": lambda: component(collection["index"]),
        "collection.skipped": lambda: isinstance(collection["skipped"], list)
        and all(strings(entry, 2) for entry in collection["skipped"]),
        "collection.calibration": lambda: collection["calibration"] is None or isinstance(collection["calibration"], dict),
        "files": lambda: isinstance(manifest["files"], dict),
    }
    for field, valid in checks.items():
        try:
            ok = valid()
        except (KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise damaged(root, f"manifest lacks or mangles its {field!r} field")


def check_files(root: Path, files: dict, prefix: str = "", *, full: bool = False) -> int:
    """Check the files of the table whose names start with ``prefix``; return how many were checked.

    Each must be a regular file inside the save (no link, no device, no FIFO) of its recorded size; small files
    (and, with ``full``, all) must match their sha256, large ``.npy`` arrays their recorded shape and dtype.

    Raises
    ------
    ValueError
        Naming the first file that is missing, outside the save, or changed.
    """
    if not isinstance(files, dict):
        raise damaged(root, "its manifest has no files table")
    checked = 0
    for name, entry in files.items():
        if name.startswith(prefix):
            _check_file(root, name, entry, full)
            checked += 1
    return checked


def _check_file(root: Path, name: str, entry, full: bool) -> None:
    path = inside(root, name)
    if not isinstance(entry, dict) or not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
        raise damaged(root, f"the manifest's entry of {name} is malformed")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise damaged(root, f"{name} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise damaged(root, f"{name} is not a regular file")
    if info.st_size != entry["size"]:
        raise damaged(root, f"{name} has {info.st_size} bytes, its manifest says {entry['size']}")
    if full or not _checked_by_header(name, info.st_size):
        with open_regular(root, name) as file:
            if hashlib.file_digest(file, "sha256").hexdigest() != entry["sha256"]:
                raise damaged(root, f"{name} does not match its sha256 in the manifest")
    if name.endswith(".npy"):
        with open_regular(root, name) as file:
            _check_header(root, name, entry, file, info.st_size)


def _checked_by_header(name: str, size: int) -> bool:
    """Large arrays are checked by size and header on load, and by hash in ``verify``; other files by hash."""
    return name.endswith(".npy") and size > SMALL_FILE_BYTES


def open_regular(root: Path, name: str) -> BinaryIO:
    """Open the save's file ``name`` for reading: never through a link, never blocking on a FIFO or device.

    Raises
    ------
    ValueError
        If the name leaves the save, or the file is not a regular file.
    """
    path = inside(root, name)
    try:
        return open_regular_file(path, follow_links=False)
    except FileNotFoundError:
        raise damaged(root, f"{name} is missing") from None
    except NotRegularFileError as error:
        raise damaged(root, f"{name} {error.strerror}") from error
    except OSError as error:  # ELOOP: a link
        raise damaged(root, f"{name} is not a regular file ({error.strerror})") from error


def read_small(root: Path, name: str, limit: int) -> bytes:
    """The bytes of the save's file ``name``; ValueError if it holds more than ``limit``."""
    with open_regular(root, name) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise damaged(root, f"{name} is larger than {limit} bytes")
    return data


def read_array(root: Path, name: str, entry: dict, *, mmap: bool = False) -> np.ndarray:
    """Read the ``.npy`` array ``name`` after checking its header against the manifest's ``entry`` and the file's
    size, so a crafted header allocates nothing; memory-map it with ``mmap``."""
    with open_regular(root, name) as file:
        shape, dtype = _check_header(root, name, entry, file, os.fstat(file.fileno()).st_size)
        if mmap:
            return np.memmap(file, dtype=dtype, mode="r", offset=file.tell(), shape=shape)
        return np.fromfile(file, dtype=dtype, count=math.prod(shape)).reshape(shape)


def _check_header(root: Path, name: str, entry, file: BinaryIO, size: int) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of an opened ``.npy`` file, checked against the manifest and the file's size."""
    if not isinstance(entry, dict):
        raise damaged(root, f"the manifest's entry of {name} is malformed")
    try:
        shape, dtype, fortran = _npy_header(file)
    except ValueError as error:
        raise damaged(root, f"{name} is not a .npy array ({error})") from error
    if list(shape) != entry.get("shape") or dtype.str != entry.get("dtype"):
        raise damaged(root, f"{name} holds {dtype.str} {shape}, its manifest says {entry.get('dtype')} {entry.get('shape')}")
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or fortran:
        raise damaged(root, f"{name} holds {dtype.str} arrays, which a save does not")
    if file.tell() + math.prod(shape) * dtype.itemsize != size:
        raise damaged(root, f"{name} has {size} bytes, which its header's {dtype.str} {shape} does not fill")
    return shape, dtype


def inside(root: Path, name: str) -> Path:
    """The path of the save's file ``name``; ValueError unless it is a plain relative name inside the save."""
    parts = name.split("/") if isinstance(name, str) else []
    if any(part in ("", ".", "..") for part in parts) or "\\" in name or "\0" in name:
        raise damaged(root, f"the manifest names a file outside the save: {name!r}")
    path = root.joinpath(*parts)
    for parent in list(path.parents)[: len(parts) - 1]:  # no folder of the save may be a link out of it
        if parent.is_symlink():
            raise damaged(root, f"{name} lies in a linked folder")
    return path


def _npy_header(file: BinaryIO) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, Fortran order) of the ``.npy`` file at its start; the file is left at its data.

    The header's length is checked against ``MAX_NPY_HEADER`` and the file's size before numpy reads it, and
    whatever numpy's parser raises on a damaged header is a ValueError.
    """
    file.seek(0)
    version = np.lib.format.read_magic(file)
    length_format = "<H" if version == (1, 0) else "<I"
    start = file.tell()
    field = file.read(struct.calcsize(length_format))
    if len(field) < struct.calcsize(length_format):
        raise ValueError("its header is cut short")
    length = struct.unpack(length_format, field)[0]
    if length > MAX_NPY_HEADER or file.tell() + length > os.fstat(file.fileno()).st_size:
        raise ValueError(f"its header says it is {length:,} bytes long")
    file.seek(start)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran, dtype = read_header(file)
    except (SyntaxError, TokenError, TypeError) as error:  # numpy parses the header as a Python literal
        raise ValueError(f"its header does not parse ({type(error).__name__})") from None
    return shape, dtype, fortran
