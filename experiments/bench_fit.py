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
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import benchlib
import cv2
import numpy as np

import cae_sim.images
from cae_sim.images import find_images, iter_batches
from cae_sim.pipeline import READ_BATCH_SIZE

REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


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


def decoding_steps(paths: list[str], size: int, factors: list[int], repeats: int) -> dict:
    """Milliseconds per image of each step of reading one file, single thread (median of ``repeats``)."""
    blobs = [np.fromfile(path, dtype=np.uint8) for path in paths]
    decoded = [cv2.imdecode(blob, cv2.IMREAD_COLOR) for blob in blobs]
    rgb = [cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in decoded]
    steps = {
        "read_file (cae_sim, whole)": lambda: [cae_sim.images.read_file(path, size) for path in paths],
        "np.fromfile": lambda: [np.fromfile(path, dtype=np.uint8) for path in paths],
        "truncation check": lambda: [cae_sim.images._is_truncated_jpeg(blob) for blob in blobs],
        "cv2.imdecode IMREAD_COLOR": lambda: [cv2.imdecode(blob, cv2.IMREAD_COLOR) for blob in blobs],
        "cvtColor BGR2RGB": lambda: [cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for image in decoded],
        "resize INTER_AREA": lambda: [cae_sim.images.resize(image, size) for image in rgb],
    }
    for factor in factors[1:]:
        steps[f"read with IMREAD_REDUCED_COLOR_{factor} (whole)"] = lambda f=factor: [
            read_reduced(path, size, f) for path in paths
        ]
    return {name: 1000 * benchlib.time_call(step, repeats)[0] / len(paths) for name, step in steps.items()}


def reduced_reading(paths: list[str], size: int, factors: list[int], reference: np.ndarray, repeats: int) -> dict:
    """Threaded read of the folder at each scale factor: images/s and mean |pixel difference| to cae_sim's."""
    workers = os.cpu_count()
    out = {}
    with ThreadPoolExecutor(workers) as pool:
        for factor in factors:
            read = functools.partial(read_reduced, size=size, factor=factor)
            pixels = np.stack(list(pool.map(read, paths)))
            seconds, _ = benchlib.time_call(lambda: np.stack(list(pool.map(read, paths))), repeats)
            difference = np.abs(pixels.astype(np.int16) - reference).mean()
            out[f"1/{factor}"] = {"images_per_s": len(paths) / seconds, "mean_abs_pixel_diff_0_255": float(difference)}
    return out


# --------------------------------------------------------------------------- main


def reading_at(factor: int):
    """Context in which cae_sim decodes JPEGs at 1/``factor`` scale (patched in memory; 1: unchanged)."""
    if factor == 1:
        return contextlib.nullcontext()
    return mock.patch.object(cae_sim.images, "read_file", functools.partial(read_reduced, factor=factor))


def measure_throughput(cases: dict, n: int, repeats: int) -> dict:
    """Time each case (name: (function, decode factor)); return images/s and times."""
    out = {}
    for name, (function, factor) in cases.items():
        with reading_at(factor):
            seconds, times = benchlib.time_call(function, repeats)
        out[name] = {"images_per_s": n / seconds, "median_s": seconds, "times_s": times}
        print(f"  {name:58s} {n / seconds:7.0f} images/s  (median {seconds:.3f} s of {repeats})")
    return out


def main() -> None:
    args = parse_args()
    folder = benchlib.make_jpeg_folder(args.n, args.source_size)
    paths, _ = find_images(folder)
    n = len(paths)
    print(f"{n} JPEGs of {args.source_size} px in {folder}")

    pipeline, fit_seconds = fit_phases(folder, args.image_size)
    print("fit phases (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in fit_seconds.items()))

    encoder = pipeline.encoder_
    pixels = read_folder(paths, args.image_size)
    floats = pixels.astype(np.float32) / np.float32(255)
    encoder.encoder_.predict(floats[:512], batch_size=256, verbose=0)  # warm up both call paths
    pipeline.transform(paths[:512])
    factors = usable_factors(args.source_size, args.image_size)
    smallest = factors[-1]

    print("throughput:")
    cases = {
        "a. transform(folder): read + encode": (lambda: pipeline.transform(folder), 1),
        "b. Keras predict, preloaded float32": (lambda: encoder.encoder_.predict(floats, batch_size=256, verbose=0), 1),
        "c. encoder.encode, preloaded uint8": (lambda: encoder.encode(pixels), 1),
        "d. iter_batches alone: reading": (lambda: read_folder(paths, args.image_size), 1),
        f"e. transform(folder), JPEG decoded at 1/{smallest}": (lambda: pipeline.transform(folder), smallest),
        f"f. iter_batches alone, JPEG decoded at 1/{smallest}": (lambda: read_folder(paths, args.image_size), smallest),
    }
    throughput = measure_throughput(cases, n, args.repeats)
    rate = {name[:1]: value["images_per_s"] for name, value in throughput.items()}
    ratios = {
        "a_over_b (target >= 0.9)": rate["a"] / rate["b"],
        "c_over_b": rate["c"] / rate["b"],
        "serial_estimate_over_b": (1 / (1 / rate["d"] + 1 / rate["b"])) / rate["b"],
        "e_over_b (reduced decode)": rate["e"] / rate["b"],
        "reading_over_model (d_over_b)": rate["d"] / rate["b"],
    }
    for name, value in ratios.items():
        print(f"  {name:58s} {value:7.2f}")
    print(f"  target a/b >= 0.9: {'met' if ratios['a_over_b (target >= 0.9)'] >= 0.9 else 'NOT met'}")

    sample = paths[: args.decode_sample]
    steps = decoding_steps(sample, args.image_size, factors, args.repeats)
    print(f"per-image cost of reading, single thread ({len(sample)} files):")
    for name, ms in steps.items():
        print(f"  {name:58s} {ms:7.3f} ms")
    reduced = reduced_reading(paths, args.image_size, factors, pixels, args.repeats)
    print(f"threaded reading ({os.cpu_count()} threads) at each JPEG scale, difference to cae_sim's pixels:")
    for name, value in reduced.items():
        print(f"  {name:58s} {value['images_per_s']:7.0f} images/s  mean |diff| {value['mean_abs_pixel_diff_0_255']:.2f}/255")

    results = {
        "folder": benchlib.folder_info(folder),
        "fit_seconds": fit_seconds,
        "fit_images_per_s": n / fit_seconds["total"],
        "throughput": throughput,
        "ratios": ratios,
        "target_met": ratios["a_over_b (target >= 0.9)"] >= 0.9,
        "decode_steps_ms_per_image_single_thread": steps,
        "threaded_reading_by_jpeg_scale": reduced,
    }
    print(f"wrote {benchlib.write_results('bench_fit', args, results)}")


if __name__ == "__main__":
    main()
