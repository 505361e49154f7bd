"""Adding images to a fitted collection: throughput and memory, in this process and on Dask workers.

A pipeline (the autoencoder at 64 px, as ``bench_memory.py``) is fitted on 2,000
generated JPEGs and saved; then, in one run and in turns:

- ``transform`` of the N new files (the bare cost of reading and encoding them);
- ``add`` of the same files in this process (encoding plus clusters and the index);
- ``add`` through a Dask ``LocalCluster`` of 1 worker and of 2 workers.

Each case reports images per second and the peak RSS of this process during it
(sampled from /proc/self/status), and the Dask cases the peak RSS of each worker.
The target: an add peaks under 1.5 GB whatever the number added.

Run: ``python experiments/bench_add.py`` (``--n 2000`` for a quick run).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import benchlib
from cae_sim import Pipeline, tune_malloc
from cae_sim.distributed import local_client

TARGET_MB = 1500


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="new JPEGs to add (default 100000)")
    parser.add_argument("--fit", type=int, default=2000, help="JPEGs the pipeline is fitted on (default 2000)")
    parser.add_argument("--size", type=int, default=128, help="side of the JPEGs in px (default 128)")
    return parser.parse_args()


def _peak_kib() -> int:
    """This process's VmHWM in kB: run on the workers, which need not import benchlib (nor TensorFlow with it)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def worker_peak_mb(client) -> list[float]:
    """Each worker process's peak RSS (VmHWM: ru_maxrss would count the parent's before the worker started), in MB."""
    return sorted(benchlib.kib_to_mb(kib) for kib in client.run(_peak_kib).values())


def timed_case(name: str, paths: list[str], run) -> dict:
    """Run one case; return its seconds (the case's own "seconds" if it reports them), images per second and peak RSS."""
    with benchlib.PeakRss() as rss:
        start = time.perf_counter()
        extra = run()
        elapsed = time.perf_counter() - start
    seconds = extra.pop("seconds", elapsed)
    result = {"seconds": seconds, "seconds_in_all": elapsed, "images_per_s": len(paths) / seconds, "peak_rss_mb": rss.peak_mb, **extra}
    print(f"{name:22} {seconds:8.1f} s {result['images_per_s']:8.0f} images/s  peak RSS {rss.peak_mb:6.0f} MB {extra or ''}")
    return result


def add_here(model: Path, paths: list[str]) -> dict:
    pipeline = Pipeline.load(model)
    pipeline.add(paths)
    return {"images_now": len(pipeline.codes_)}


def dask_add(model: Path, paths: list[str], n_workers: int) -> dict:
    """Add through a LocalCluster; "seconds" leaves out starting and stopping the cluster."""
    with local_client(n_workers) as client:
        start = time.perf_counter()
        pipeline = Pipeline.load(model)
        pipeline.add(paths, client=client, model_dir=model)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "images_now": len(pipeline.codes_), "worker_peak_rss_mb": worker_peak_mb(client)}


def main() -> None:
    args = parse_args()
    fit_folder = benchlib.make_jpeg_folder(args.fit, args.size, seed=1)
    new_folder = benchlib.make_jpeg_folder(args.n, args.size, seed=2)
    paths = sorted(str(path) for path in new_folder.glob("*.jpg"))
    work = Path(tempfile.mkdtemp(prefix="bench_add-"))
    try:
        model = work / "model"
        Pipeline(encoder="cae", image_size=64, epochs=1, n_clusters=10, random_state=0).fit(fit_folder).save(model)
        print(f"fitted on {args.fit} JPEGs; adding {len(paths)} of {args.size} px")
        cases = {
            "transform": lambda: {"codes": len(Pipeline.load(model).transform(paths))},
            "add, this process": lambda: add_here(model, paths),
            "add, Dask 1 worker": lambda: dask_add(model, paths, 1),
            "add, Dask 2 workers": lambda: dask_add(model, paths, 2),
        }
        results = {name: timed_case(name, paths, run) for name, run in cases.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = results["transform"]["images_per_s"]
    ratios = {name: result["images_per_s"] / base for name, result in results.items()}
    ratios["dask 2 workers / 1 worker"] = results["add, Dask 2 workers"]["images_per_s"] / results["add, Dask 1 worker"]["images_per_s"]
    for name, ratio in ratios.items():
        print(f"{name:28} {ratio:5.2f} × transform" if "/" not in name else f"{name:28} {ratio:5.2f}")
    peak = max(result["peak_rss_mb"] for result in results.values())
    print(f"peak RSS of this process {peak:.0f} MB ({'under' if peak < TARGET_MB else 'over'} the {TARGET_MB} MB target)")
    path = benchlib.write_results("bench_add", args, results=results, ratios=ratios, folder=benchlib.folder_info(new_folder))
    print(f"wrote {path}")


if __name__ == "__main__":
    tune_malloc()
    main()
