"""Throughput of reading + encoding a JPEG folder, against the bare Keras model.

Target: ``Pipeline.transform(folder)`` (files streamed from disk, decoded and
encoded) runs at >= 0.9 × the images/s of the encoder's ``predict`` on arrays
already in memory, i.e. reading is hidden behind the model.

Also reported, all from the same run: the phases of ``Pipeline.fit`` (timed by
wrapping its steps from outside, cae_sim is not modified), the throughput of
reading alone (``iter_batches``), the per-image cost of each decoding step, and
what decoding JPEGs at reduced scale (``cv2.IMREAD_REDUCED_COLOR_2/4/8``) would
change.

Run: ``python experiments/bench_fit.py`` (``--n 200`` for a quick run).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import benchlib
import cv2
import numpy as np

import cae_sim.images
from cae_sim.images import find_images, iter_batches
from cae_sim.pipeline import READ_BATCH_SIZE

REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
DECODE_STEPS = (
    "np.fromfile",
    "truncation check",
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
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each measurement; the median is kept")
    parser.add_argument("--decode-sample", type=int, default=300, help="files timed one by one per decoding step")
    return parser.parse_args()


# --------------------------------------------------------------------------- fit phases


def fit_phases(folder, image_size: int):
    """Fit the benchmark's pipeline; return it and the seconds of the whole fit and of each phase."""
    pipeline, total, intervals = benchlib.fit_pipeline(
        folder, encoder="cae", image_size=image_size, epochs=1, n_clusters=10, random_state=0
    )
    phases = {name: sum(end - start for start, end in spans) for name, spans in intervals.items()}
    return pipeline, {"total": total, **phases, "other": total - sum(phases.values())}


# --------------------------------------------------------------------------- reading


def read_folder(paths: list[str], size: int) -> np.ndarray:
    """Decode the files as cae_sim does for a fit (``iter_batches``, default threads) into one uint8 array."""
    return np.concatenate([batch.pixels for batch in iter_batches(paths, size, READ_BATCH_SIZE)])


def read_reduced(path: str, size: int, factor: int) -> np.ndarray:
    """Read one JPEG like ``cae_sim.images.read_file``, but let libjpeg decode it at 1/``factor`` scale."""
    bgr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), REDUCED_FLAGS[factor])
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cae_sim.images.resize(rgb, size)


def usable_factors(source_size: int, size: int) -> list[int]:
    """Scale factors whose reduced decode is still at least ``size`` px: no upsampling."""
    return [factor for factor in REDUCED_FLAGS if source_size // factor >= size]


def decode_breakdown(paths: list[str], size: int, factor: int, repeats: int) -> dict:
    """Milliseconds per image of each step of reading a file at 1/``factor`` JPEG scale, one thread.

    The last entry times the colour conversion done on the resized image
    instead, an alternative order of the steps.
    """
    seconds = np.zeros(len(DECODE_STEPS))
    for path in paths * repeats:
        stamps = [time.perf_counter()]
        blob = np.fromfile(path, dtype=np.uint8)
        stamps.append(time.perf_counter())
        cae_sim.images._is_truncated_jpeg(blob)
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
    per_image_ms = 1000 * seconds / (len(paths) * repeats)
    return dict(zip(DECODE_STEPS, per_image_ms.tolist()))


def pool_read(pool: ThreadPoolExecutor, paths: list[str], size: int) -> np.ndarray:
    """Read the files with cae_sim's ``read_file`` through a plain thread pool, no joblib, no batches."""
    return np.stack(list(pool.map(functools.partial(cae_sim.images.read_file, size=size), paths)))


def reduced_pixel_difference(paths: list[str], size: int, factors: list[int], reference: np.ndarray) -> dict:
    """Mean |difference| (0-255) of the pixels read at each JPEG scale to cae_sim's."""
    return {
        f"1/{factor}": float(np.mean([np.abs(read_reduced(path, size, factor).astype(np.int16) - ref).mean()
                                      for path, ref in zip(paths, reference)]))
        for factor in factors[1:]
    }


# --------------------------------------------------------------------------- main


@contextlib.contextmanager
def reading_setup(factor: int = 1, cv2_threads: int | None = None):
    """Context in which cae_sim decodes JPEGs at 1/``factor`` scale and OpenCV runs ``cv2_threads`` threads.

    The decoder is swapped in memory (cae_sim's files are not modified); the
    defaults leave everything as it is.
    """
    with contextlib.ExitStack() as stack:
        if factor > 1:
            reader = functools.partial(read_reduced, factor=factor)
            stack.enter_context(mock.patch.object(cae_sim.images, "read_file", reader))
        if cv2_threads is not None:
            stack.callback(cv2.setNumThreads, cv2.getNumThreads())
            cv2.setNumThreads(cv2_threads)
        yield


def measure_throughput(cases: dict, n: int, repeats: int) -> dict:
    """Time each case (name: (function, ``reading_setup`` options)); return images/s and CPU ms per image.

    The cases run in turns, one run of each per round, so that a change in the
    machine's load affects them all alike; each keeps the median of its runs.
    """
    runs = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (function, setup) in cases.items():
            with reading_setup(**setup):
                runs[name].append(benchlib.time_call(function, 1))
    out = {}
    for name, timings in runs.items():
        wall = statistics.median(timing["median_s"] for timing in timings)
        cpu = statistics.median(timing["cpu_median_s"] for timing in timings)
        out[name] = {"images_per_s": n / wall, "cpu_ms_per_image": 1000 * cpu / n, "times_s": [t["median_s"] for t in timings]}
        print(f"  {name:52s} {n / wall:7.0f} images/s  {1000 * cpu / n:6.3f} CPU ms/image")
    return out


def throughput_ratios(throughput: dict) -> dict:
    """The ratios that answer the benchmark's question, keyed by the cases' letters."""
    rate = {name[0]: value["images_per_s"] for name, value in throughput.items()}
    return {
        "a/b: transform vs Keras predict (target >= 0.9)": rate["a"] / rate["b"],
        "a/c: transform vs encoder.encode": rate["a"] / rate["c"],
        "no overlap at all would give 1/(1/d+1/c), over b": 1 / (1 / rate["d"] + 1 / rate["c"]) / rate["b"],
        "d/b: reading alone vs Keras predict": rate["d"] / rate["b"],
        "h/b: transform with 1/k decode vs Keras predict": rate["h"] / rate["b"],
        "e/d: reading, plain thread pool vs iter_batches": rate["e"] / rate["d"],
        "f/d: reading, cv2 1 thread vs as is": rate["f"] / rate["d"],
        "g/d: reading, 1/k decode vs as is": rate["g"] / rate["d"],
    }


def print_breakdown(breakdown: dict) -> None:
    """Print the per-step decode costs, one column per JPEG scale."""
    print("  " + f"{'ms per image, one thread':40s}" + "".join(f"{name:>19s}" for name in breakdown))
    for step in DECODE_STEPS:
        print("  " + f"{step:40s}" + "".join(f"{costs[step]:19.3f}" for costs in breakdown.values()))
    totals = [sum(costs[step] for step in DECODE_STEPS[:-1]) for costs in breakdown.values()]
    print("  " + f"{'total (as cae_sim does it)':40s}" + "".join(f"{total:19.3f}" for total in totals))


def main() -> None:
    args = parse_args()
    folder = benchlib.make_jpeg_folder(args.n, args.source_size)
    paths, _ = find_images(folder)
    n = len(paths)
    factors = usable_factors(args.source_size, args.image_size)
    k = factors[-1]
    print(f"{n} JPEGs of {args.source_size} px in {folder}")

    pipeline, fit_seconds = fit_phases(folder, args.image_size)
    print("fit phases (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in fit_seconds.items()))

    model, encoder = pipeline.encoder_.encoder_, pipeline.encoder_
    pixels = read_folder(paths, args.image_size)
    floats = pixels.astype(np.float32) / np.float32(255)
    model.predict(floats[:512], batch_size=256, verbose=0)  # warm up both call paths
    pipeline.transform(paths[:512])

    print(f"throughput over {n} images (median of {args.repeats}; k = {k}):")
    transform, read = (lambda: pipeline.transform(folder)), (lambda: read_folder(paths, args.image_size))
    pool = ThreadPoolExecutor(os.cpu_count())
    cases = {
        "a. transform(folder): read + encode": (transform, {}),
        "b. Keras predict, preloaded float32": (lambda: model.predict(floats, batch_size=256, verbose=0), {}),
        "c. encoder.encode, preloaded uint8": (lambda: encoder.encode(pixels), {}),
        "d. iter_batches alone: reading": (read, {}),
        "e. reading with a plain ThreadPoolExecutor.map": (lambda: pool_read(pool, paths, args.image_size), {}),
        "f. iter_batches alone, cv2.setNumThreads(1)": (read, {"cv2_threads": 1}),
        f"g. iter_batches alone, JPEG decoded at 1/{k}": (read, {"factor": k}),
        f"h. transform(folder), JPEG decoded at 1/{k}": (transform, {"factor": k}),
    }
    throughput = measure_throughput(cases, n, args.repeats)
    pool.shutdown()
    ratios = throughput_ratios(throughput)
    for name, value in ratios.items():
        print(f"  {name:60s} {value:5.2f}")
    target_met = ratios["a/b: transform vs Keras predict (target >= 0.9)"] >= 0.9
    print(f"  target a/b >= 0.9: {'met' if target_met else 'NOT met'}")

    sample = paths[: args.decode_sample]
    breakdown = {f"1/{factor}": decode_breakdown(sample, args.image_size, factor, args.repeats) for factor in factors}
    with reading_setup(cv2_threads=1):
        breakdown["1/1, cv2 1 thread"] = decode_breakdown(sample, args.image_size, 1, args.repeats)
    print(f"cost of each reading step ({len(sample)} files x {args.repeats}):")
    print_breakdown(breakdown)
    difference = reduced_pixel_difference(sample, args.image_size, factors, pixels)
    print("mean |pixel difference| to cae_sim's reading, on 0-255: " + ", ".join(f"{name} {value:.2f}" for name, value in difference.items()))

    results = {
        "folder": benchlib.folder_info(folder),
        "fit_seconds": fit_seconds,
        "fit_images_per_s": n / fit_seconds["total"],
        "throughput": throughput,
        "ratios": ratios,
        "target_met": target_met,
        "decode_ms_per_image_one_thread_by_jpeg_scale": breakdown,
        "mean_abs_pixel_difference_by_jpeg_scale": difference,
    }
    print(f"wrote {benchlib.write_results('bench_fit', args, results)}")


if __name__ == "__main__":
    main()
