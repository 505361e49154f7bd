"""The path failures of saves made from a relative folder, measured on whichever cae_sim is imported.

A collection is fitted from the relative folder ``photos`` (as the README's quick start does), saved, then loaded
from another working directory; the script counts the stored paths that exist there, and adds the same folder again
by its absolute path. Run it on this checkout, and on an older one to compare::

    python experiments/relative_save_paths.py
    git worktree add /tmp/before fd4536d && PYTHONPATH=/tmp/before python experiments/relative_save_paths.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import cae_sim
from cae_sim import Pipeline

PHOTOS = Path(__file__).resolve().parent.parent / "data"


def main() -> None:
    warnings.simplefilter("ignore")
    root = Path(tempfile.mkdtemp(prefix="cae_sim-paths-"))
    shutil.copytree(PHOTOS, root / "work" / "photos")
    os.chdir(root / "work")
    Pipeline(encoder="dhash", n_clusters=2, random_state=0).fit("photos").save("model")
    os.chdir(root)
    loaded = Pipeline.load(root / "work" / "model")
    n_images = len(loaded.codes_)
    existing = sum(os.path.isfile(path) for path in loaded.paths_)
    added = loaded.add(root / "work" / "photos")
    print(f"cae_sim from {Path(cae_sim.__file__).parent}")
    print(f"stored paths that exist when loaded from another folder: {existing} of {n_images}")
    print(f"images added again by adding the same folder by its absolute path: {len(added.positions)}")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
