"""Take images out of a save, in place: out of its codes, clusters and index (nothing is retrained).

Each PATH is an image file of the save (it need not exist any more) or a folder, which stands for the save's images
in it (recursively), as add takes it: removing a folder takes out what adding it put in. Nothing is removed if a PATH
names no image of the save.
"""

from __future__ import annotations

import argparse
import os

from .arguments import add_save_argument, check_folder
from .saves import save_with_clusters

PROGRESS = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the remove command's arguments to ``parser``."""
    add_save_argument(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image file of the save to take out (it need not exist any more), or a folder: the save's images in it")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if the save's folder is not there."""
    check_folder(args.model)


def run(args: argparse.Namespace) -> int:
    """Take the images out, save in place and print what changed."""
    from ..persistence import writing
    from ..pipeline import Pipeline

    with writing(args.model):  # another writer of this save waits until this one has saved
        pipeline = Pipeline.load(args.model)
        before = len(pipeline.codes_)
        pipeline.remove(save_files(args.paths, pipeline.paths_))
        save_with_clusters(pipeline, args.model)
    print(f"removed:       {before - len(pipeline.codes_)}")
    print(f"images now:    {len(pipeline.codes_)} in {args.model}")
    return 0


def save_files(paths: list[str], save_paths: list[str] | None) -> list[str]:
    """The files to remove: each path as given, a folder replaced by the save's images in it (in the save's order).

    Raises
    ------
    ValueError
        If a folder holds no image of the save.
    """
    files = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        folder = os.path.join(os.path.abspath(path), "")
        inside = [image for image in save_paths or () if image.startswith(folder)]
        if not inside:
            raise ValueError(f"no image of the save is in folder {path!r}")
        files += inside
    return files
