"""Explicit migrations of older save formats to the current one, applied to a manifest as it is read.

Version 1 (cae_sim before the Model/Collection split) kept image paths as given (often relative), a sha256 per
file and no sizes, named the index by its class, and had no ``labels.npy`` in saves made before ``add``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from .._files import file_sha256
from .manifest import VERSION, damaged, describe_files, inside

#: v1 named FAISS indexes by class and ``kind``; v2 by the name ``Pipeline(index=...)`` takes.
_V1_FAISS_KINDS = {"Flat": "faiss-flat", "IVF": "faiss-ivf", "IVFPQ": "faiss-ivfpq", "HNSW": "faiss-hnsw"}


class RelativePathsWarning(UserWarning):
    """A save of format 1 stored relative image paths: they were read relative to the current folder."""


def migrate(root: Path, manifest: dict) -> dict:
    """Return ``manifest`` in the current format's layout (it is returned as is when current).

    Raises
    ------
    ValueError
        If an older save's files do not match its manifest, or the manifest lacks a field.
    """
    if manifest["version"] == VERSION:
        return manifest
    try:
        return _from_v1(root, manifest)
    except (KeyError, TypeError, AttributeError) as error:
        raise damaged(root, f"its format-1 manifest lacks or mangles {error}") from error


def _from_v1(root: Path, old: dict) -> dict:
    files = _v1_files(root, old["files"])
    params, encoder, clustering = old["params"], old["encoder"], old["clustering"]
    n_codes = files["codes.npy"]["shape"][0]
    return {
        "format": old["format"],
        "version": VERSION,
        "params": params,
        "model": {
            "encoder": {"name": encoder["name"], "config": encoder["params"]},
            "encoder_choice": encoder.get("choice", "given"),
            "choices": {"encoder": encoder["name"], "clustering": clustering["kind"],
                        "image_size": encoder["params"].get("image_size", encoder["params"].get("input_size"))},
            "clustering": {"name": clustering["kind"], "config": clustering["params"], "scores": clustering["scores"],
                           "shared": clustering.get("shared", [])},
        },
        "collection": {
            "size": n_codes,
            "labels": "labels.npy" if "labels.npy" in files else "clustering/labels.npy",
            "paths": _absolute_paths(root, old["paths"]),
            "index": _v1_index(old.get("index"), params),
            "skipped": old["skipped"],
            "calibration": old.get("calibration"),
        },
        "files": files,
    }


def _v1_files(root: Path, digests: dict) -> dict:
    """v1 checked every file's sha256 on load: so does its migration, and it records their sizes and headers."""
    for name, digest in digests.items():
        path = inside(root, name)
        if not path.is_file() or path.is_symlink():
            raise damaged(root, f"{name} is missing")
        if file_sha256(path) != digest:
            raise damaged(root, f"{name} does not match its sha256 in the manifest")
    described = describe_files(root)
    return {name: described[name] for name in digests}


def _v1_index(index: dict | None, params: dict) -> dict:
    """The index of a v1 save; saves made before indexes were saved get an exact one, built from the codes."""
    if index is None:
        return {"name": "exact", "config": {"metric": params["metric"]}}
    name = "exact" if index["class"] == "ExactIndex" else _V1_FAISS_KINDS[index["params"]["kind"]]
    return {"name": name, "config": index["params"]}


def _absolute_paths(root: Path, paths: list[str] | None) -> list[str] | None:
    if paths is None or all(os.path.isabs(path) for path in paths):
        return paths
    warnings.warn(
        f"the save {str(root)!r} (format 1) stored relative image paths; they are read relative to the current "
        f"folder {os.getcwd()!r}. If they were made elsewhere, run: cae-sim relocate {str(root)} OLD NEW",
        RelativePathsWarning, stacklevel=5,
    )
    return [os.path.abspath(path) for path in paths]
