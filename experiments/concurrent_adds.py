"""Two ``add`` commands on one save at the same time, each adding a folder of its own: are both folders there after?

A save of the default encoder is trained on a small folder, then two ``python -m cae_sim add`` processes start
together, one per folder of ``--images`` JPEGs. Each runs under ``/usr/bin/time -v``. The script prints how many
images of each folder the save holds at the end, each command's exit status, wall time and peak memory, and writes
``experiments/results/concurrent_adds.json``. Run it on an older checkout (``PYTHONPATH=/tmp/before``) to compare.

    python experiments/concurrent_adds.py [--images 1000] [--folder /tmp/cae_sim_concurrent]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "experiments" / "results" / "concurrent_adds.json"


def write_folder(folder: Path, n: int, seed: int) -> None:
    """``n`` distinct 128-px JPEGs: smooth random colour fields."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.resize(small, (128, 128), interpolation=cv2.INTER_CUBIC))


def timed(command: list[str], log: Path) -> subprocess.Popen:
    # run from the log's folder: ``python -m`` puts the working directory first on sys.path
    return subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=log.parent)


def time_report(log: Path) -> dict:
    text = log.read_text()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    # MB of 10**6 bytes, benchlib's unit (GNU time's "kbytes" are KiB); benchlib itself is not imported here: this
    # script runs against older checkouts (PYTHONPATH=...) and never imports cae_sim in its own process
    return {"wall": wall, "max_rss_mb": round(rss * 1024 / 10**6), "last_lines": [line for line in text.splitlines() if line.strip()][:8]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/cae_sim_concurrent"))
    args = parser.parse_args()
    shutil.rmtree(args.folder, ignore_errors=True)
    folders = {"first": args.folder / "first", "a": args.folder / "a", "b": args.folder / "b"}
    write_folder(folders["first"], 20, seed=0)
    write_folder(folders["a"], args.images, seed=1)
    write_folder(folders["b"], args.images, seed=2)
    model = args.folder / "model"
    python = [sys.executable, "-m"]
    subprocess.run([*python, "cae_sim.train", str(folders["first"]), "--out", str(model), "--seed", "0", "--quiet"],
                   check=True, stdout=subprocess.DEVNULL, cwd=args.folder)
    runs = {name: timed([*python, "cae_sim", "add", str(model), str(folders[name]), "--quiet"], args.folder / f"add-{name}.log")
            for name in ("a", "b")}
    status = {name: run.wait() for name, run in runs.items()}
    from cae_sim import Pipeline

    paths = Pipeline.load(model).paths_
    held = {name: sum(os.path.dirname(path) == str(folders[name]) for path in paths) for name in ("a", "b")}
    result = {"images_per_add": args.images, "held_at_the_end": held, "exit_status": status,
              "runs": {name: time_report(args.folder / f"add-{name}.log") for name in runs}}
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
