"""Saving and loading a pipeline: its Model (encoder, clustering) and its Collection (codes, labels, paths, index).

::

    DIR/manifest.json          format and version, the pipeline's parameters, each component as {name, config},
                               and the files table (size, sha256, .npy shape and dtype of every other file)
    DIR/codes.npy              (N, d) float32 codes (memory-mapped on load)
    DIR/labels.npy             (N,) cluster of each image
    DIR/paths.json             absolute file of each image (absent for images given as an array)
    DIR/clustering/NAME.npy    the clustering's fitted arrays
    DIR/index/NAME.npy         the index's arrays (none for an index rebuilt from the codes)
    DIR/encoder/...            the encoder's own files

A save is written into a temporary sibling directory and renamed into place only when complete. Loading costs
what the answer needs: the codes are memory-mapped, and the index, the paths and the encoder are read on first
use; ``verify_save`` checks every byte.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .._files import swap_into_place, write_atomically
from ..calibration import Calibration
from ..clustering import CLUSTERINGS, check_labels
from ..collection import Collection
from ..encoders import ENCODERS, Encoder
from ..index import INDEXES
from ..model import Model
from .locking import recover, writing
from .manifest import (
    FORMAT, MANIFEST, VERSION, check_fields, check_files, damaged, describe_files, read_array, read_manifest, read_small,
    write_manifest,
)
from .migrations import migrate

PATHS_FILE = "paths.json"


def save_pipeline(pipeline, directory: str | os.PathLike) -> None:
    """Write a fitted pipeline into ``directory``, replacing an earlier save there.

    Raises
    ------
    ValueError
        If ``directory`` holds files but is not a cae_sim save (it is never overwritten).
    """
    with writing(directory) as target:
        if target.exists() and not (target / MANIFEST).is_file() and (not target.is_dir() or any(target.iterdir())):
            raise ValueError(f"refusing to overwrite {str(target)!r}: it exists and is not a cae_sim save")
        with _staging(target) as staging:
            _write(pipeline.model_, pipeline.collection_, pipeline.get_params(deep=False), staging)


def _write(model: Model, collection: Collection, params: dict, root: Path) -> None:
    np.save(root / "codes.npy", collection.codes, allow_pickle=False)
    np.save(root / "labels.npy", collection.labels, allow_pickle=False)
    if collection.paths is not None:
        _write_json(root / PATHS_FILE, collection.paths)
    state = model.clustering_.state()  # an array that is the codes themselves is not written twice
    shared = [name for name, array in state.items() if _same(array, collection.codes)]
    _save_arrays(root / "clustering", {name: array for name, array in state.items() if name not in shared})
    _save_arrays(root / "index", collection.index.state())
    (root / "encoder").mkdir()
    model.encoder_.save(root / "encoder")
    write_manifest(root, {
        "format": FORMAT,
        "version": VERSION,
        "params": params,
        "model": {
            "encoder": ENCODERS.get_config(model.encoder_),
            "encoder_choice": model.encoder_choice_,
            "choices": model.choices_,
            "clustering": CLUSTERINGS.get_config(model.clustering_)
            | {"scores": {str(k): v for k, v in model.clustering_.scores_.items()}, "shared": shared},
        },
        "collection": {
            "size": len(collection),
            "labels": "labels.npy",
            "paths": None if collection.paths is None else PATHS_FILE,
            "index": INDEXES.get_config(collection.index),
            "skipped": collection.skipped,
            "calibration": None if collection.calibration is None else collection.calibration.to_dict(),
        },
        "files": describe_files(root),
    })


def load_pipeline(directory: str | os.PathLike, cls):
    """Read a save written by ``save_pipeline`` (or an older format, migrated) into a new ``cls`` pipeline.

    Raises
    ------
    OSError
        If ``directory`` does not exist.
    ValueError
        If it is not a cae_sim save, was written by a newer format version, or a file is missing, changed or
        inconsistent.
    """
    root, manifest = checked_save(directory)
    try:
        pipeline = cls(**manifest["params"])
        pipeline.check_params()
    except (TypeError, ValueError) as error:
        raise damaged(root, f"its parameters do not fit {cls.__name__} ({error})") from error
    try:
        codes = read_array(root, "codes.npy", _listed(root, manifest["files"], "codes.npy"), mmap=True)  # not read
        model = _load_model(root, manifest["model"], manifest["files"], codes, pipeline.make_model())
        collection = _load_collection(root, manifest, codes)
        check_labels(collection.labels, model.n_clusters_)
    except (KeyError, TypeError, AttributeError) as error:
        raise damaged(root, f"manifest lacks or mangles {error}") from error
    except (ValueError, IndexError, OverflowError, RecursionError) as error:
        raise damaged(root, str(error)) from error
    pipeline.model_, pipeline.collection_, pipeline.save_dir_ = model, collection, str(root)
    return pipeline


def checked_save(directory: str | os.PathLike, prefix: str = "") -> tuple[Path, dict]:
    """Read a save's manifest (migrated to the current format) and check its files named ``prefix``… cheaply.

    Returns
    -------
    (Path, dict)
        The save's absolute folder and its manifest.
    """
    root = Path(directory).absolute()
    recover(root)
    manifest = migrate(root, read_manifest(root))
    check_fields(root, manifest)
    check_files(root, manifest["files"], prefix)
    return root, manifest


def verify_save(directory: str | os.PathLike) -> int:
    """Check every file of a save against its sha256 and size; return how many files were checked.

    Raises
    ------
    OSError
        If ``directory`` does not exist.
    ValueError
        Naming the first file that is missing or changed.
    """
    root = Path(directory).absolute()
    recover(root)
    manifest = migrate(root, read_manifest(root))
    check_fields(root, manifest)
    return check_files(root, manifest["files"], full=True)


def load_encoder(directory: str | os.PathLike) -> Encoder:
    """Read only the fitted encoder of a save (what a worker needs to encode images)."""
    root, manifest = checked_save(directory, prefix="encoder/")
    return _load_encoder(root, ENCODERS.from_config(manifest["model"]["encoder"]))


def relocate_save(directory: str | os.PathLike, old: str | os.PathLike, new: str | os.PathLike) -> int:
    """Rewrite the image paths of a save that lie in folder ``old`` to lie in ``new``; return how many changed.

    The save is rewritten atomically (its other files are linked, not copied, where the file system allows).

    Raises
    ------
    OSError
        If ``directory`` does not exist.
    ValueError
        If the save is damaged or holds no paths.
    """
    with writing(directory):
        root, manifest = checked_save(directory)
        paths = _paths(root, manifest["files"], manifest["collection"]["paths"])
        if paths is None:
            raise ValueError(f"the save {str(root)!r} holds images given as an array: it has no paths to relocate")
        return _relocated(root, manifest, paths, os.path.abspath(old), os.path.abspath(new))


def _relocated(root: Path, manifest: dict, paths: list[str], old_folder: str, new_folder: str) -> int:
    """Write the save anew with ``paths`` moved from ``old_folder`` to ``new_folder``; return how many moved."""
    moved = [_moved(path, old_folder, new_folder) for path in paths]
    changed = sum(a != b for a, b in zip(paths, moved))
    with _staging(root) as staging:
        for name in manifest["files"]:
            if name != PATHS_FILE:
                _link_or_copy(root / name, staging / name)
        _write_json(staging / PATHS_FILE, moved)
        manifest["collection"]["paths"] = PATHS_FILE
        manifest["files"] = describe_files(staging)
        write_manifest(staging, manifest)
    return changed


def _moved(path: str, old: str, new: str) -> str:
    if path == old or path.startswith(old.rstrip(os.sep) + os.sep):
        return new + path[len(old):]
    return path


def _load_model(root: Path, described: dict, files: dict, codes: np.ndarray, model: Model) -> Model:
    clustering_described = described["clustering"]
    clustering = CLUSTERINGS.from_config({"name": clustering_described["name"], "config": clustering_described["config"]})
    arrays = _load_arrays(root, files, "clustering")
    arrays |= {name: codes for name in clustering_described["shared"]}
    scores = {int(k): float(v) for k, v in clustering_described["scores"].items()}
    clustering.restore(arrays, scores)
    unfitted = ENCODERS.from_config(described["encoder"])  # checked now, its files read on first use
    unfitted._validate_params()  # bounds on what its parameters make a query allocate
    return model.set_fitted(_when_used(root, lambda: _load_encoder(root, unfitted)), clustering,
                            described["encoder_choice"], described["choices"])


def _load_collection(root: Path, manifest: dict, codes: np.ndarray) -> Collection:
    described, files = manifest["collection"], manifest["files"]
    labels = read_array(root, described["labels"], _listed(root, files, described["labels"]))
    paths = _paths(root, files, described["paths"])
    calibration = None if described["calibration"] is None else Calibration.from_dict(described["calibration"])
    index = INDEXES.from_config(described["index"])
    arrays = _load_arrays(root, files, "index")
    skipped = [tuple(entry) for entry in described["skipped"]]
    if len(codes) != described["size"] or (paths is not None and len(paths) != len(codes)):
        raise ValueError("codes, labels and paths disagree in length")
    restore = (lambda: index.restore(arrays, codes)) if arrays else (lambda: index.fit(codes))
    return Collection(np.asarray(codes), labels, paths, index=_when_used(root, restore), skipped=skipped,
                      calibration=calibration)


def _load_encoder(root: Path, unfitted: Encoder) -> Encoder:
    """The fitted encoder of a save: ``unfitted``'s class reads the files of ``encoder/``."""
    return type(unfitted).load(root / "encoder", unfitted.get_params(deep=False))


def _when_used(root: Path, read: Callable):
    """``read`` for a part of a save read on first use: what goes wrong is a damaged save's ValueError."""

    def load():
        try:
            return read()
        except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as error:  # FAISS: RuntimeError
            raise damaged(root, f"a part read on first use does not fit ({error})") from error

    return load


def _paths(root: Path, files: dict, described) -> list[str] | None:
    if described is None or isinstance(described, list):  # a list: migrated from format 1
        return described
    _listed(root, files, described)
    paths = json.loads(read_small(root, described, files[described]["size"]).decode("utf-8"))
    if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
        raise ValueError(f"{described} is not a list of paths")
    return paths


def _listed(root: Path, files: dict, name: str) -> dict:
    """The files table's entry of ``name``, which it must list (and so was checked)."""
    if name not in files:
        raise ValueError(f"the manifest names {name!r}, which its files table does not list")
    return files[name]


def _load_arrays(root: Path, files: dict, folder: str) -> dict[str, np.ndarray]:
    """The arrays of the files table in ``folder/``, by name."""
    listed = [name for name in files if name.startswith(f"{folder}/") and name.endswith(".npy")]
    return {Path(name).stem: read_array(root, name, files[name]) for name in listed}


def _save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir()
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array, allow_pickle=False)


def _same(array: np.ndarray, codes: np.ndarray) -> bool:
    return array is codes or (array.shape == codes.shape and array.dtype == codes.dtype and np.array_equal(array, codes))


def _write_json(path: Path, value) -> None:
    data = json.dumps(value).encode()
    write_atomically(path, lambda file: file.write(data))


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """Write a save into the folder yielded, then swap it in for ``target``; on an error the folder goes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir, not mkdtemp: the save gets the user's usual permissions (umask), not 0700
    folder = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    try:
        yield folder
        swap_into_place(folder, target)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
