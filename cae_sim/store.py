"""The on-disk format of a saved pipeline: a directory, no pickle.

::

    DIR/manifest.json          format name and version, parameters, paths, the near-duplicate calibration,
                               sha256 of every other file
    DIR/codes.npy              (N, d) float32 codes (loaded memory-mapped)
    DIR/labels.npy             (N,) cluster of each image
    DIR/clustering/NAME.npy    the clustering's fitted arrays (K-Means: labels and centres;
                               manifold clustering: the fitted codes' embedding and the mixture;
                               its fitted codes only where they are not codes.npy)
    DIR/index/NAME.npy         a FAISS index, serialised by FAISS (an exact index is rebuilt from the codes)
    DIR/encoder/...            the encoder's own files (the autoencoder: a .keras model)

A save is written into a temporary sibling directory and renamed into place
only when complete, so a crash never leaves a half-written save over a good one.
Loading checks the format, the version and every file's hash before it reads
anything, and reads arrays with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._files import file_sha256, swap_into_place
from ._json import from_json, to_json
from .calibration import Calibration
from .clustering import CLUSTERINGS, Clustering
from .encoders import ENCODERS, Encoder
from .index import INDEX_CLASSES, NeighborIndex

FORMAT = "cae_sim.pipeline"
VERSION = 1
MANIFEST = "manifest.json"


def save_pipeline(pipeline, directory: str | os.PathLike) -> None:
    """Write a fitted pipeline into ``directory``, replacing an earlier save there.

    Raises
    ------
    ValueError
        If ``directory`` holds files but is not a cae_sim save (it is never
        overwritten), or the encoder is not a registered one.
    """
    target = Path(directory)
    if target.exists() and not (target / MANIFEST).is_file() and (not target.is_dir() or any(target.iterdir())):
        raise ValueError(f"refusing to overwrite {str(target)!r}: it exists and is not a cae_sim save")
    encoder = pipeline.encoder_
    if ENCODERS.get(encoder.name) is not type(encoder):
        raise ValueError(f"cannot save encoder {type(encoder).__name__}: it is not registered in cae_sim.encoders.ENCODERS")

    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the save gets the user's usual permissions (umask), not 0700
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        _write(pipeline, staging)
        swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write(pipeline, root: Path) -> None:
    np.save(root / "codes.npy", pipeline.codes_, allow_pickle=False)
    np.save(root / "labels.npy", pipeline.labels_, allow_pickle=False)
    clustering, index = pipeline.clustering_, pipeline.index_
    # an array the clustering holds that is the codes themselves is not written twice
    state = clustering.state()
    shared = [name for name, array in state.items() if _same(array, pipeline.codes_)]
    _save_arrays(root / "clustering", {name: array for name, array in state.items() if name not in shared})
    _save_arrays(root / "index", index.state())
    (root / "encoder").mkdir()
    pipeline.encoder_.save(root / "encoder")
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "params": pipeline.get_params(deep=False),
        "encoder": {
            "name": pipeline.encoder_.name,
            "params": pipeline.encoder_.get_params(deep=False),
            "choice": pipeline.encoder_choice_,
        },
        "clustering": {
            "kind": next(kind for kind, cls in CLUSTERINGS.items() if type(clustering) is cls),
            "params": clustering.get_params(),
            "scores": {str(k): v for k, v in clustering.scores_.items()},
            "shared": shared,
        },
        "index": {"class": type(index).__name__, "params": index.get_params()},
        "paths": pipeline.paths_,
        "skipped": pipeline.skipped_,
        "calibration": None if pipeline.calibration_ is None else pipeline.calibration_.to_dict(),
        "files": {name: file_sha256(root / name) for name in _files_below(root)},
    }
    _write_durably(root / MANIFEST, json.dumps(manifest, indent=1, default=to_json).encode())


def _same(array: np.ndarray, codes: np.ndarray) -> bool:
    return array is codes or (array.shape == codes.shape and array.dtype == codes.dtype and np.array_equal(array, codes))


def _save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir()
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array, allow_pickle=False)


def _load_arrays(root: Path, manifest: dict, folder: str) -> dict[str, np.ndarray]:
    listed = [name for name in manifest["files"] if name.startswith(f"{folder}/")]  # hash-checked before
    return {Path(name).stem: np.load(root / name, allow_pickle=False) for name in listed}


class SavedPipeline(NamedTuple):
    """What a save holds: the pipeline's parameters and its fitted parts."""

    params: dict
    encoder: Encoder
    choice: str
    codes: np.ndarray
    labels: np.ndarray
    paths: list[str] | None
    skipped: list[tuple[str, str]]
    clustering: Clustering
    index: NeighborIndex | None
    calibration: Calibration | None


def load_pipeline(directory: str | os.PathLike) -> SavedPipeline:
    """Read a save written by ``save_pipeline``.

    Raises
    ------
    OSError
        If ``directory`` does not exist.
    ValueError
        If it is not a cae_sim save, was written by a newer format version,
        or any file is missing, changed or inconsistent.
    """
    root, manifest = checked_manifest(directory)
    encoder = encoder_from_manifest(root, manifest)
    try:
        codes = np.load(root / "codes.npy", mmap_mode="r", allow_pickle=False)  # millions of codes need not fit in RAM
        choice = manifest["encoder"].get("choice", "given")  # saves before encoder="auto" have none
        described = manifest["clustering"]
        arrays = _load_arrays(root, manifest, "clustering") | {name: codes for name in described.get("shared", [])}
        scores = {int(k): float(v) for k, v in described["scores"].items()}
        clustering = CLUSTERINGS[described["kind"]](**described["params"])
        index = None if "index" not in manifest else INDEX_CLASSES[manifest["index"]["class"]](**manifest["index"]["params"])
        paths, skipped = manifest["paths"], [tuple(entry) for entry in manifest["skipped"]]
        calibration = None if manifest.get("calibration") is None else Calibration.from_dict(manifest["calibration"])
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise ValueError(f"damaged save {str(root)!r}: manifest lacks or mangles {error}") from error
    try:
        clustering.restore(arrays, scores)
        if index is not None:
            index.restore(_load_arrays(root, manifest, "index"), codes)
    except (KeyError, ValueError, RuntimeError) as error:  # FAISS raises RuntimeError on a bad index
        raise ValueError(f"damaged save {str(root)!r}: the clustering's or index's arrays do not fit ({error})") from error
    # saves before add/remove have no labels.npy: the clustering's own labels are the pipeline's
    labels = np.load(root / "labels.npy", allow_pickle=False) if "labels.npy" in manifest["files"] else clustering.labels_
    if len(labels) != len(codes) or (paths is not None and len(paths) != len(codes)):
        raise ValueError(f"damaged save {str(root)!r}: codes, labels and paths disagree in length")
    return SavedPipeline(manifest["params"], encoder, choice, codes, labels, paths, skipped, clustering, index, calibration)


def load_encoder(directory: str | os.PathLike) -> Encoder:
    """Read only the fitted encoder of a save (what a worker needs to encode images).

    Raises
    ------
    OSError, ValueError
        As ``load_pipeline``.
    """
    return encoder_from_manifest(*checked_manifest(directory, prefix="encoder/"))


def encoder_from_manifest(root: Path, manifest: dict) -> Encoder:
    """Rebuild the encoder of a save whose manifest ``checked_manifest`` has read.

    Raises
    ------
    ValueError
        If the manifest does not describe a registered encoder.
    """
    try:
        return ENCODERS[manifest["encoder"]["name"]].load(root / "encoder", manifest["encoder"]["params"])
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"damaged save {str(root)!r}: manifest lacks or mangles {error}") from error


def checked_manifest(directory: str | os.PathLike, prefix: str = "") -> tuple[Path, dict]:
    """Read a save's manifest and check the hash of each of its files whose name starts with ``prefix``.

    Returns
    -------
    (Path, dict)
        The save's folder and its manifest.

    Raises
    ------
    OSError
        If ``directory`` does not exist.
    ValueError
        If it is not a cae_sim save, or a checked file is missing or changed.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"no such save directory: {str(root)!r}")
    manifest = _read_manifest(root)
    _check_fields(manifest, root)
    for name, digest in manifest["files"].items():
        if not name.startswith(prefix):
            continue
        path = root / name
        if not path.is_file():
            raise ValueError(f"damaged save {str(root)!r}: {name} is missing")
        if file_sha256(path) != digest:
            raise ValueError(f"damaged save {str(root)!r}: {name} does not match its sha256 in the manifest")
    return root, manifest


def _read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    if not path.is_file():
        raise ValueError(f"{str(root)!r} is not a cae_sim save: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"), object_hook=from_json)
    except (UnicodeDecodeError, ValueError, TypeError) as error:  # bad JSON, or an encoder parameter that names no encoder
        raise ValueError(f"damaged save {str(root)!r}: {MANIFEST} cannot be read ({error})") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(root)!r} is not a cae_sim save: its {MANIFEST} has no format {FORMAT!r}")
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"save {str(root)!r} has format version {manifest.get('version')!r}; this cae_sim reads version {VERSION}"
        )
    return manifest


def _check_fields(manifest: dict, root: Path) -> None:
    """Raise ValueError naming the first field of the manifest that lacks or has the wrong JSON type."""

    def strings(value, length=None) -> bool:
        return isinstance(value, list) and all(isinstance(v, str) for v in value) and length in (None, len(value))

    checks = {
        "params": lambda m: isinstance(m["params"], dict),
        "encoder": lambda m: isinstance(m["encoder"], dict) and isinstance(m["encoder"]["name"], str)
        and isinstance(m["encoder"]["params"], dict) and isinstance(m["encoder"].get("choice", ""), str),
        "clustering": lambda m: isinstance(m["clustering"], dict) and isinstance(m["clustering"]["kind"], str)
        and isinstance(m["clustering"]["params"], dict) and isinstance(m["clustering"]["scores"], dict)
        and strings(m["clustering"].get("shared", [])),
        "index": lambda m: "index" not in m or (isinstance(m["index"], dict) and isinstance(m["index"]["class"], str)
        and isinstance(m["index"]["params"], dict)),
        "paths": lambda m: m["paths"] is None or strings(m["paths"]),
        "skipped": lambda m: isinstance(m["skipped"], list) and all(strings(entry, 2) for entry in m["skipped"]),
        "calibration": lambda m: m.get("calibration") is None or isinstance(m["calibration"], dict),
        "files": lambda m: isinstance(m["files"], dict) and all(isinstance(v, str) for v in m["files"].values()),
    }
    for field, valid in checks.items():
        try:
            ok = valid(manifest)
        except (KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise ValueError(f"damaged save {str(root)!r}: manifest lacks or mangles its {field!r} field")


def _files_below(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())

