"""How long loading a save takes at 1,000,000 codes of 1,280 values, beside a full ``verify`` of it.

A save of the default encoder (``efficientnet_lite0`` pooled, 1,280 values a code) is fitted on ``data/`` and its
collection replaced by N random codes with synthetic absolute paths, then saved. In fresh processes, the script
times ``Pipeline.load`` (the manifest, small files hashed, large arrays by size and header), the first duplicate-free
query of the collection's codes (the exact index is built on first use), and ``Pipeline.verify`` (every byte hashed,
which is what every load did before save format 2).

    python experiments/bench_load.py [--codes 1000000] [--folder /tmp/cae_sim_load]

Writes ``experiments/results/bench_load.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import benchlib  # the timings run in a fresh process: importing TensorFlow here does not count
import numpy as np

REPO = benchlib.REPO
DIMENSION = 1280

TIMED = """
import json, sys, time
import numpy as np
from cae_sim import Pipeline
start = time.perf_counter()
pipeline = Pipeline.load(sys.argv[1])
loaded = time.perf_counter() - start
start = time.perf_counter()
distances, positions = pipeline.collection_.kneighbors(np.asarray(pipeline.codes_[:1]), 10)
first_query = time.perf_counter() - start
start = time.perf_counter()
files = pipeline.verify()
verified = time.perf_counter() - start
print(json.dumps({"load_s": loaded, "first_query_s": first_query, "verify_s": verified, "files": files,
                  "nearest_is_itself": int(positions[0, 0]) == 0}))
"""


def build(folder: Path, n_codes: int) -> None:
    """Fit the default encoder on data/, give it a collection of ``n_codes`` random codes, save it in ``folder``."""
    from cae_sim import Pipeline
    from cae_sim.collection import Collection
    from cae_sim.index import ExactIndex

    pipeline = Pipeline(n_clusters=3, index="exact", random_state=0).fit(REPO / "data")
    codes = np.random.default_rng(0).standard_normal((n_codes, DIMENSION), dtype=np.float32)
    labels = pipeline.model_.predict_codes(codes)
    paths = [f"/photos/archive/{i // 1000:04d}/image_{i:07d}.jpg" for i in range(n_codes)]
    index = ExactIndex(metric=pipeline.metric).fit(codes)
    pipeline.collection_ = Collection(codes, labels, paths, index=index)
    pipeline.save(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/cae_sim_load"))
    args = parser.parse_args()
    save = args.folder / f"save-{args.codes}"
    if not (save / "manifest.json").is_file():
        start = time.perf_counter()
        build(save, args.codes)
        print(f"built the save in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    size = sum(path.stat().st_size for path in save.rglob("*") if path.is_file())
    done = subprocess.run([sys.executable, "-c", TIMED, str(save)], capture_output=True, text=True, check=True)
    timings = json.loads(done.stdout.strip().splitlines()[-1])
    result = {"codes": args.codes, "dimension": DIMENSION, "save_bytes": size, **timings}
    print(json.dumps(result, indent=1))
    print("wrote", benchlib.write_results("bench_load", args, results=result))


if __name__ == "__main__":
    main()
