"""Throughput of reading + encoding a JPEG folder, against the bare Keras model.

Target: ``Pipeline.transform(folder)`` (files streamed from disk, decoded and
encoded) runs at >= 0.9 × the images/s of the encoder's Keras ``predict`` on
arrays already in memory, i.e. reading is hidden behind the model.

Also reported, all from the same run: the phases of ``Pipeline.fit`` (timed by
wrapping its steps in memory; cae_sim's files are not modified), reading alone
(``iter_batches``), reading through a plain thread pool, the cost of each step
of reading one file (measured before the fit), and reading and encoding with cae_sim's file reader
swapped in memory for one that decodes JPEGs at full or at reduced scale
(``cv2.IMREAD_REDUCED_COLOR_2/4/8``), whatever cae_sim's own reader does. Minor page faults per image are counted:
TensorFlow's generator dataset, used by the training, sets glibc's
M_TRIM_THRESHOLD to 128 KB, which can make each decoded 256-px image (192 KB)
fresh memory from the kernel.

Throughput cases run in turns (one run of each per round) so that a change in
the machine's load hits them alike; each reports the median of its runs, and
the CPU time of the process per image, which other programs disturb less.

Run: ``python experiments/bench_fit.py`` (``--n 200 --repeats 2`` for a quick run).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import benchlib
import cv2
import numpy as np

import cae_sim.images
import cae_sim.images.batches
from cae_sim.images import find_images, iter_batches
from cae_sim.images import READ_BATCH_SIZE
from cae_sim import tune_malloc

REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
DECODE_STEPS = (
    "np.fromfile",
    "cv2.imdecode",
    "cvtColor BGR2RGB",
    "resize INTER_AREA",
    "(cvtColor after the resize instead)",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="number of JPEGs (default 2000)")
    parser.add_argument("--source-size", type=int, default=256, help="side of the JPEGs in px (default 256)")
    parser.add_argument("--image-size", type=int, default=64, help="side the CAE works at (default 64)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each measurement; the median is kept (default 5)")
    parser.add_argument("--decode-sample", type=int, default=300, help="files timed step by step (default 300)")
    return parser.parse_args()


# --------------------------------------------------------------------------- reading


def read_folder(paths: list[str], size: int) -> np.ndarray:
    """Decode the files as cae_sim does (``iter_batches``, its default threads) into one uint8 array."""
    return np.concatenate([batch.pixels for batch in iter_batches(paths, size, READ_BATCH_SIZE)])


def pool_read(pool: ThreadPoolExecutor, paths: list[str], size: int) -> np.ndarray:
    """Read the files with cae_sim's ``read_file`` through a plain thread pool: no joblib, no batches."""
    return np.stack(list(pool.map(functools.partial(cae_sim.images.read_file, size=size), paths)))


def read_reduced(path: str, size: int, factor: int) -> np.ndarray:
    """Read one JPEG the way cae_sim's ``read_file`` first did, with libjpeg decoding at 1/``factor`` scale.

    Decode, BGR to RGB, area resize; without the truncated-file check (about 0.01 ms).
    """
    bgr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), REDUCED_FLAGS[factor])
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cae_sim.images.resize(rgb, size)


def usable_factors(source_size: int, size: int) -> list[int]:
    """JPEG scale factors whose decoded image is still at least ``size`` px: no upsampling."""
    return [factor for factor in REDUCED_FLAGS if source_size // factor >= size]


def decoding_at(factor: int | None):
    """Context in which cae_sim decodes JPEGs at 1/``factor`` scale, its reader swapped in memory.

    None leaves cae_sim's own reader in place.
    """
    if factor is None:
        return contextlib.nullcontext()
    # cae_sim has no public way to choose its file reader: the name is swapped where it is looked up, in
    # cae_sim.images (pool_read) and in cae_sim.images.batches (iter_batches, hence transform), which binds it at import
    reader = functools.partial(read_reduced, factor=factor)
    stack = contextlib.ExitStack()
    for module in (cae_sim.images, cae_sim.images.batches):
        stack.enter_context(mock.patch.object(module, "read_file", reader))
    return stack


def decode_breakdown(paths: list[str], size: int, factor: int, repeats: int) -> dict:
    """Milliseconds per image of each step of reading a file at 1/``factor`` JPEG scale, one thread.

    ``DECODE_STEPS``' last entry times the colour conversion done on the
    resized image instead, another order of the steps; ``page_faults`` counts
    the minor page faults per image.
    """
    seconds = np.zeros(len(DECODE_STEPS))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for path in paths * repeats:
        stamps = [time.perf_counter()]
        blob = np.fromfile(path, dtype=np.uint8)
        stamps.append(time.perf_counter())
        bgr = cv2.imdecode(blob, REDUCED_FLAGS[factor])
        stamps.append(time.perf_counter())
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        stamps.append(time.perf_counter())
        small = cae_sim.images.resize(rgb, size)
        stamps.append(time.perf_counter())
        cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        stamps.append(time.perf_counter())
        seconds += np.diff(stamps)
    count = len(paths) * repeats
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / count
    return {**dict(zip(DECODE_STEPS, (1000 * seconds / count).tolist())), "page_faults": faults}


def reduced_pixel_difference(paths: list[str], size: int, factors: list[int]) -> dict:
    """Mean |difference| (on 0-255) between the pixels read at each reduced JPEG scale and at full scale."""
    def difference(path, factor):
        return np.abs(read_reduced(path, size, factor).astype(np.int16) - read_reduced(path, size, 1)).mean()

    return {f"1/{factor}": float(np.mean([difference(path, factor) for path in paths])) for factor in factors[1:]}


# --------------------------------------------------------------------------- measurements


def fit_phases(folder, image_size: int):
    """Fit the benchmark's pipeline; return it and the seconds of the whole fit and of each phase."""
    pipeline, total, intervals = benchlib.fit_pipeline(
        folder, encoder="cae", image_size=image_size, epochs=1, n_clusters=10, random_state=0
    )
    phases = {name: sum(end - start for start, end in spans) for name, spans in intervals.items()}
    return pipeline, {"total": total, **phases, "other": total - sum(phases.values())}


def measure_throughput(cases: dict, n: int, repeats: int) -> dict:
    """Time each case (name: (function, JPEG scale factor or None)) in turns; return images/s, CPU ms, faults per image."""
    runs = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (function, factor) in cases.items():
            with decoding_at(factor):
                runs[name].append(benchlib.time_call(function, 1))
    out = {}
    for name, timings in runs.items():
        wall = statistics.median(timing["median_s"] for timing in timings)
        cpu = statistics.median(timing["cpu_median_s"] for timing in timings)
        faults = statistics.median(timing["page_faults_median"] for timing in timings) / n
        out[name] = {
            "images_per_s": n / wall,
            "cpu_ms_per_image": 1000 * cpu / n,
            "page_faults_per_image": faults,
            "times_s": [timing["median_s"] for timing in timings],
        }
        print(f"  {name:50s} {n / wall:7.0f} images/s  {1000 * cpu / n:6.3f} CPU ms/image  {faults:5.1f} faults/image")
    return out


def throughput_ratios(throughput: dict) -> dict:
    """The ratios that answer the benchmark's question, from the cases' letters."""
    rate = {name[0]: value["images_per_s"] for name, value in throughput.items()}
    return {
        "a/b: transform vs Keras predict (target >= 0.9)": rate["a"] / rate["b"],
        "a/c: transform vs encoder.encode": rate["a"] / rate["c"],
        "no overlap at all would give 1/(1/d+1/c), over b": 1 / (1 / rate["d"] + 1 / rate["c"]) / rate["b"],
        "d/b: reading alone vs Keras predict": rate["d"] / rate["b"],
        "e/d: reading, plain thread pool vs iter_batches": rate["e"] / rate["d"],
        "g/f: reading, 1/k vs full JPEG decode": rate["g"] / rate["f"],
        "h/b: transform with full JPEG decode vs Keras predict": rate["h"] / rate["b"],
        "i/b: transform with 1/k JPEG decode vs Keras predict": rate["i"] / rate["b"],
        "i/h: transform, 1/k vs full JPEG decode": rate["i"] / rate["h"],
    }


def print_breakdown(breakdown: dict) -> None:
    """Print the per-step costs of reading one file, one column per setting."""
    print(f"  {'ms per image, one thread':38s}" + "".join(f"{name:>16s}" for name in breakdown))
    for step in DECODE_STEPS:
        print(f"  {step:38s}" + "".join(f"{costs[step]:16.3f}" for costs in breakdown.values()))
    totals = [sum(costs[step] for step in DECODE_STEPS[:-1]) for costs in breakdown.values()]
    print(f"  {'total (the steps cae_sim runs)':38s}" + "".join(f"{total:16.3f}" for total in totals))
    print(f"  {'minor page faults per image':38s}" + "".join(f"{c['page_faults']:16.1f}" for c in breakdown.values()))


def main() -> None:
    args = parse_args()
    folder = benchlib.make_jpeg_folder(args.n, args.source_size)
    paths, _ = find_images(folder)
    n, sample = len(paths), paths[: args.decode_sample]
    factors = usable_factors(args.source_size, args.image_size)
    k = factors[-1]
    print(f"{n} JPEGs of {args.source_size} px in {folder}")
    breakdown = {f"1/{f}": decode_breakdown(sample, args.image_size, f, args.repeats) for f in factors}
    print(f"reading one file, step by step, before the fit ({len(sample)} files x {args.repeats}; columns: JPEG scale):")
    print_breakdown(breakdown)
    difference = reduced_pixel_difference(sample, args.image_size, factors)
    print("mean |pixel difference| to a full-scale decode, on 0-255: " + ", ".join(f"{f} {d:.2f}" for f, d in difference.items()))

    pipeline, fit_seconds = fit_phases(folder, args.image_size)
    print("fit phases (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in fit_seconds.items()))

    model, encoder = pipeline.encoder_.encoder_, pipeline.encoder_
    pixels = read_folder(paths, args.image_size)
    floats = pixels.astype(np.float32) / np.float32(255)
    model.predict(floats[:512], batch_size=256, verbose=0)  # warm up both call paths
    pipeline.transform(paths[:512])

    print(f"throughput over {n} images (median of {args.repeats}; k = {k}):")
    transform, read = (lambda: pipeline.transform(folder)), (lambda: read_folder(paths, args.image_size))
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        cases = {
            "a. transform(folder): read + encode": (transform, None),
            "b. Keras predict, preloaded float32": (lambda: model.predict(floats, batch_size=256, verbose=0), None),
            "c. encoder.encode, preloaded uint8": (lambda: encoder.encode(pixels), None),
            "d. iter_batches alone: reading": (read, None),
            "e. reading with a plain ThreadPoolExecutor.map": (lambda: pool_read(pool, paths, args.image_size), None),
            "f. iter_batches alone, full JPEG decode": (read, 1),
            f"g. iter_batches alone, JPEG decoded at 1/{k}": (read, k),
            "h. transform(folder), full JPEG decode": (transform, 1),
            f"i. transform(folder), JPEG decoded at 1/{k}": (transform, k),
        }
        throughput = measure_throughput(cases, n, args.repeats)
    ratios = throughput_ratios(throughput)
    for name, value in ratios.items():
        print(f"  {name:58s} {value:5.2f}")
    target_met = ratios["a/b: transform vs Keras predict (target >= 0.9)"] >= 0.9
    print(f"  target a/b >= 0.9: {'met' if target_met else 'NOT met'}")

    results = {
        "folder": benchlib.folder_info(folder),
        "fit_seconds": fit_seconds,
        "fit_images_per_s": n / fit_seconds["total"],
        "throughput": throughput,
        "ratios": ratios,
        "target_met": target_met,
        "read_one_file_ms_per_step": breakdown,
        "mean_abs_pixel_difference_by_jpeg_scale": difference,
    }
    print(f"wrote {benchlib.write_results('bench_fit', args, results=results)}")


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
