"""A save's manifest: its format and version, what it holds, and a table of its files with their size and sha256.

Loading checks what is cheap to check (the manifest, every small file's hash, every large array's size and
``.npy`` header); ``verify_files`` checks every byte. File names are relative to the save and stay inside it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np

from .._files import file_sha256, write_atomically
from .._json import from_json, to_json

FORMAT = "cae_sim.pipeline"
VERSION = 2
MANIFEST = "manifest.json"
#: Files up to this size are hash-checked on every load; larger ones by size (and ``.npy`` header) until ``verify``.
SMALL_FILE_BYTES = 1 << 20


def damaged(root: Path, what: str) -> ValueError:
    """The error of a save that is not as its manifest says."""
    return ValueError(f"damaged save {str(root)!r}: {what}")


def describe_files(root: Path) -> dict[str, dict]:
    """The files table of a save being written: every file below ``root`` with its size and sha256, and the shape
    and dtype of each ``.npy`` array."""
    table = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        entry = {"size": path.stat().st_size, "sha256": file_sha256(path)}
        if path.suffix == ".npy":
            shape, dtype = _npy_header(path)
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
    path = root / MANIFEST
    if not path.is_file():
        raise ValueError(f"{str(root)!r} is not a cae_sim save: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"), object_hook=from_json)
    except (UnicodeDecodeError, ValueError, TypeError) as error:  # bad JSON, or a parameter naming no encoder
        raise damaged(root, f"{MANIFEST} cannot be read ({error})") from error
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
    if full or info.st_size <= SMALL_FILE_BYTES:
        if file_sha256(path) != entry["sha256"]:
            raise damaged(root, f"{name} does not match its sha256 in the manifest")
    elif "shape" in entry:
        shape, dtype = _npy_header(path)
        if list(shape) != entry["shape"] or dtype.str != entry.get("dtype"):
            raise damaged(root, f"{name} holds {dtype.str} {shape}, its manifest says {entry.get('dtype')} {entry['shape']}")


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


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as file:
        try:
            version = np.lib.format.read_magic(file)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(file)
        except ValueError as error:
            raise ValueError(f"{path} is not a .npy array ({error})") from error
    return shape, dtype
