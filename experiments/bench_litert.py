"""LiteRT against Keras for the pretrained encoders: the bare runtimes and the library, side by side in one run.

    /usr/bin/time -v python experiments/bench_litert.py [--images 400] [--repeats 5] [--fit-repeats 2]
                                                        [--thread-repeats 3] [--no-threads] [--no-int8]

For ``efficientnet_lite0`` (layer "pool", 224 px) and ``efficientnet_lite2`` (layer "logits", 260 px), on a
folder of ``--images`` JPEGs of 640–1024 px made once from the real photos of ``datasets.load_real_photos()``
(random crops of 60–100 % of each side, flipped at random, scaled to a longer side of 640–1024 px, quality 90;
cached under /tmp/cae_sim_bench):

- bare Keras: the encoder's Keras features model, ``predict_on_batch`` on the folder's images preloaded, resized
  and preprocessed into float32 arrays (batches of 8, the encoder's default);
- bare LiteRT: ``ai_edge_litert``'s Interpreter (2 threads) on the same arrays, batches of 8, and of 1 for the
  record;
- the library: ``Pipeline(encoder=PretrainedEncoder(model, layer, runtime=...), n_clusters=10)``, ``fit`` on the
  folder and ``transform`` of its list of files (reading, decoding, resizing and encoding overlapped, as the
  library does), for runtime "litert" and "keras"; images/s = files / wall seconds. ``fit`` does more than encode
  the files (it builds the network, clusters, and encodes 64 × 4 copies to calibrate the near-duplicate
  threshold), so its read-and-encode phase is reported on its own too;
- decoding alone: the library's reader (``iter_batches``, 2 threads) over the files, nothing encoded. Decoding
  and inference each keep both cores busy, so overlapped they still share them: the library can reach at most
  1 / (1/bare + 1/decoding) images/s, printed as a share of bare LiteRT (the "bound").

Every variant is warmed up first (network built, LiteRT conversion cached, Keras functions traced); then
``--repeats`` rounds run every variant but the fits once each, in alternating order (``--fit-repeats`` rounds
of the two fits follow), and the medians are compared; as the machine is shared, the ratios are also given as
the median of the ratios within each round (paired) with their range.
Targets (issue 24): library ≥ 0.9 × bare LiteRT; library LiteRT ≥ 1.4 × library Keras for Lite0, ≥ 2.5× for
Lite2. The codes of the two runtimes (from ``transform``) are compared: max ‖a − b‖ / ‖a‖, max |a − b| / max |a|
and the share of queries with the same 10 nearest neighbours.

Threads (``--no-threads`` skips it): ``transform`` with decoding threads ``Pipeline(n_jobs=1|2)`` × interpreter
threads (``LiteRTModel(path, threads=1|2)`` put in the fitted encoder), interleaved rounds; the fastest
combination is reported against the others.

int8 (``--no-int8`` skips it): a dynamic-range quantised Lite0 (TF converter with
``optimizations=[tf.lite.Optimize.DEFAULT]``, from the Keras features model) on the bare interpreter (2 threads,
batch 8), timed in Lite0's rounds; its codes against the float LiteRT model's on the folder and on the 56 real
photos: relative differences and top-10 neighbour agreement. Measured only: the library has no int8 option.

Writes experiments/results/bench_litert.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

import cae_sim.model
import cae_sim.pipeline
from benchlib import DONE_MARKER, FOLDERS, folder_info, time_call, timed_methods, write_results
from cae_sim import Pipeline, tune_malloc
from cae_sim.encoders.base import to_unit_float
from cae_sim.encoders.litert import LiteRTModel, inference_threads
from cae_sim.encoders.pretrained import PretrainedEncoder
from cae_sim.images import READ_BATCH_SIZE, find_images, iter_batches, read_file
from datasets import load_real_photos
from litert_agreement import agreement, photos_at

#: The encoders measured: (backbone, layer), and the library LiteRT / library Keras speed-up issue 24 asks of each.
MODELS = {("efficientnet_lite0", "pool"): 1.4, ("efficientnet_lite2", "logits"): 2.5}
#: Library throughput asked for, as a share of the bare interpreter's on preloaded arrays.
TARGET_OF_BARE = 0.9
BATCH = 8  # PretrainedEncoder's default batch size
BARE_THREADS = 2
CLUSTERS = 10
SIDES = (640, 1024)
WARM_UP_FILES = 32
THREAD_CHOICES = [(jobs, threads) for jobs in (1, 2) for threads in (1, 2)]  # (decoding threads, interpreter threads)
INT8_MODEL = ("efficientnet_lite0", "pool")
FIT_PHASES = {
    "build_network": (PretrainedEncoder, "fit"),
    "read_and_encode": (cae_sim.model, "encode_images"),
    "calibration": (cae_sim.pipeline, "calibrate_collection"),
}


# --------------------------------------------------------------------------- the folder of photos


def photo_folder(n: int, *, seed: int = 0, quality: int = 90) -> Path:
    """Write ``n`` JPEGs of 640–1024 px made from the real photos under /tmp, once; return the folder.

    Photo i is cut from real photo i mod 56: a random crop of 60–100 % of each side, flipped with probability 1/2,
    scaled (area averaging down, bicubic up) to a random longer side in ``SIDES``, saved at ``quality``.
    """
    low, high = SIDES
    folder = FOLDERS / f"real_photos_n{n}_{low}-{high}px_q{quality}_seed{seed}"
    if (folder / DONE_MARKER).exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    photos = list(load_real_photos(max_side=2 * high).values())
    rng = np.random.default_rng(seed)
    for i in range(n):
        photo = photos[i % len(photos)]
        height, width = photo.shape[:2]
        crop_height, crop_width = int(height * rng.uniform(0.6, 1.0)), int(width * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, height - crop_height + 1), rng.integers(0, width - crop_width + 1)
        crop = photo[top : top + crop_height, left : left + crop_width]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        scale = int(rng.integers(low, high + 1)) / max(crop_height, crop_width)
        shape = (max(1, round(crop_width * scale)), max(1, round(crop_height * scale)))
        image = cv2.resize(np.ascontiguousarray(crop), shape, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"photo_{i:06d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, quality])
    info = {"n": n, "sides": SIDES, "seed": seed, "quality": quality, "source": "datasets.load_real_photos()"}
    (folder / DONE_MARKER).write_text(json.dumps(info))
    return folder


# --------------------------------------------------------------------------- the bare runtimes


def preloaded_inputs(paths: list[str], encoder: PretrainedEncoder, chunk: int = 64) -> np.ndarray:
    """The files read and resized as the library reads them, then preprocessed: float32 (n, side, side, 3)."""
    side = encoder.image_size
    inputs = np.empty((len(paths), side, side, 3), np.float32)
    for start in range(0, len(paths), chunk):
        pixels = np.stack([read_file(path, side) for path in paths[start : start + chunk]])
        inputs[start : start + len(pixels)] = encoder.preprocess(to_unit_float(pixels))
    return inputs


def full_batches(n: int, batch: int) -> range:
    return range(0, n - batch + 1, batch)


def bare_keras(model, inputs: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """``predict_on_batch`` over the full batches of ``inputs``."""
    return np.concatenate([np.asarray(model.predict_on_batch(inputs[start : start + batch]))
                           for start in full_batches(len(inputs), batch)])


class BareInterpreter:
    """``ai_edge_litert``'s Interpreter, its input allocated once for ``batch`` images, nothing of the library's."""

    def __init__(self, path: str | os.PathLike, batch: int, threads: int = BARE_THREADS):
        from ai_edge_litert.interpreter import Interpreter

        self.path, self.batch = Path(path), batch
        self.interpreter = Interpreter(model_path=os.fspath(path), num_threads=threads)
        details = self.interpreter.get_input_details()[0]
        self.input, self.output = details["index"], self.interpreter.get_output_details()[0]["index"]
        self.interpreter.resize_tensor_input(self.input, [batch, *details["shape"][1:]])
        self.interpreter.allocate_tensors()

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """The outputs of the full batches of ``inputs``."""
        outputs = []
        for start in full_batches(len(inputs), self.batch):
            self.interpreter.set_tensor(self.input, inputs[start : start + self.batch])
            self.interpreter.invoke()
            outputs.append(self.interpreter.get_tensor(self.output).copy())
        return np.concatenate(outputs)


def dynamic_range_int8(keras_model, path: Path) -> Path:
    """Convert the Keras model with dynamic-range quantisation (int8 weights) to ``path``, once; return it."""
    if path.is_file():
        return path
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-litert-int8-") as folder:
        keras_model.export(folder, format="tf_saved_model", verbose=False)  # the library's route to the converter
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        path.write_bytes(converter.convert())
    return path


# --------------------------------------------------------------------------- timing


def interleaved(variants: dict[str, Callable], rounds: int) -> dict[str, dict]:
    """Run every variant once per round, the order reversed every other round; return each one's timing."""
    runs, loads = {name: [] for name in variants}, {name: [] for name in variants}
    for round_ in range(rounds):
        for name in (list(variants) if round_ % 2 == 0 else list(reversed(variants))):
            loads[name].append(os.getloadavg()[0])
            runs[name].append(time_call(variants[name], 1))
    return {name: {"median_s": statistics.median(t for run in timed for t in run["times_s"]),
                   "cpu_median_s": statistics.median(run["cpu_median_s"] for run in timed),
                   "times_s": [t for run in timed for t in run["times_s"]],
                   "cpu_s": [run["cpu_median_s"] for run in timed],
                   "load_1min_before": loads[name]}
            for name, timed in runs.items()}


def library_pipeline(model: str, layer: str, runtime: str, n_jobs: int = -1) -> Pipeline:
    return Pipeline(encoder=PretrainedEncoder(model=model, layer=layer, runtime=runtime), n_clusters=CLUSTERS,
                    random_state=0, n_jobs=n_jobs)


def fitting(model: str, layer: str, runtime: str, folder: Path, phases: list) -> Callable:
    """A call that fits a new pipeline on the folder, adding the seconds of each of its phases to ``phases``."""
    def fit():
        with timed_methods(FIT_PHASES) as intervals:
            library_pipeline(model, layer, runtime).fit(folder)
        phases.append({name: sum(end - start for start, end in spans) for name, spans in intervals.items()})

    return fit


def warm_pipeline(model: str, layer: str, runtime: str, paths: list[str]) -> Pipeline:
    """A pipeline fitted on the first files (network built or converted and cached, functions traced)."""
    pipeline = library_pipeline(model, layer, runtime).fit(paths[:WARM_UP_FILES])
    if (runtime == "litert") != isinstance(pipeline.encoder_.features_, LiteRTModel):
        raise RuntimeError(f"runtime={runtime!r} runs on {type(pipeline.encoder_.features_).__name__}")
    return pipeline


# --------------------------------------------------------------------------- one encoder


def bench_model(model: str, layer: str, folder: Path, paths: list[str], args: argparse.Namespace) -> dict:
    """Every variant of one encoder in interleaved rounds; the thread choices and the int8 row when asked."""
    n = len(paths)
    pipelines = {runtime: warm_pipeline(model, layer, runtime, paths) for runtime in ("keras", "litert")}
    keras_model = pipelines["keras"].encoder_.features_
    tflite = pipelines["litert"].encoder_.features_.path
    inputs = preloaded_inputs(paths, pipelines["keras"].encoder_)
    bare = {batch: BareInterpreter(tflite, batch) for batch in (BATCH, 1)}
    int8 = None
    if not args.no_int8 and (model, layer) == INT8_MODEL:
        int8 = BareInterpreter(dynamic_range_int8(keras_model, FOLDERS / "litert" / f"{tflite.stem}-dynamic-int8.tflite"), BATCH)
    bare_keras(keras_model, inputs[:BATCH]), bare[BATCH].run(inputs[:BATCH]), bare[1].run(inputs[:1])

    codes, phases = {}, {"keras": [], "litert": []}

    def transform(runtime):
        def run():
            codes[runtime] = pipelines[runtime].transform(paths)
        return run

    variants = {
        "bare_keras_batch8": lambda: codes.__setitem__("bare_keras", bare_keras(keras_model, inputs)),
        "bare_litert_batch8": lambda: codes.__setitem__("bare_litert", bare[BATCH].run(inputs)),
        "bare_litert_batch1": lambda: bare[1].run(inputs),
        "library_litert_transform": transform("litert"),
        "library_keras_transform": transform("keras"),
        "library_decode_only": lambda: sum(len(batch.positions) for batch in iter_batches(
            paths, pipelines["litert"].encoder_.image_size, READ_BATCH_SIZE, -1, False)),
    }
    if int8 is not None:
        int8.run(inputs[:BATCH])
        variants["bare_litert_int8_dynamic_batch8"] = lambda: codes.__setitem__("int8", int8.run(inputs))
    timings = interleaved(variants, args.repeats)
    timings.update(interleaved({f"library_{runtime}_fit": fitting(model, layer, runtime, folder, phases[runtime])
                                for runtime in ("litert", "keras")}, args.fit_repeats))

    counted = {name: len(full_batches(n, BATCH)) * BATCH if name.startswith("bare") and "batch8" in name else n
               for name in timings}
    rows = {name: {**timing, "images": counted[name], "images_per_s": counted[name] / timing["median_s"]}
            for name, timing in timings.items()}
    for runtime in ("keras", "litert"):
        median_phases = {name: statistics.median(p[name] for p in phases[runtime]) for name in FIT_PHASES}
        rows[f"library_{runtime}_fit"]["phases_median_s"] = median_phases
        rows[f"library_{runtime}_fit_read_and_encode"] = {
            "median_s": median_phases["read_and_encode"], "images": n,
            "images_per_s": n / median_phases["read_and_encode"]}
    bare_rate = rows["bare_litert_batch8"]["images_per_s"]
    for row in rows.values():
        row["of_bare_litert"] = row["images_per_s"] / bare_rate
    speedups = {kind: rows[f"library_litert_{kind}"]["images_per_s"] / rows[f"library_keras_{kind}"]["images_per_s"]
                for kind in ("fit", "fit_read_and_encode", "transform")}
    speedups["bare"] = bare_rate / rows["bare_keras_batch8"]["images_per_s"]
    decode_rate = rows["library_decode_only"]["images_per_s"]
    # decoding and inference each keep both cores busy: run one after the other or overlapped, the CPUs do both
    sharing_bound = 1 / (1 / bare_rate + 1 / decode_rate) / bare_rate
    paired = {
        "library_litert_transform_of_bare_litert": paired_ratios(rows["library_litert_transform"], rows["bare_litert_batch8"]),
        "library_litert_over_keras_transform": paired_ratios(rows["library_litert_transform"], rows["library_keras_transform"]),
        "bare_litert_over_keras": paired_ratios(rows["bare_litert_batch8"], rows["bare_keras_batch8"]),
        "library_litert_over_keras_fit": paired_ratios(rows["library_litert_fit"], rows["library_keras_fit"]),
    }
    result = {
        "model": model, "layer": layer, "image_size": pipelines["keras"].encoder_.image_size, "tflite": str(tflite),
        "rows": rows, "litert_over_keras": speedups, "paired_ratios": paired,
        "decode_plus_infer_bound_of_bare_litert": sharing_bound, "target_litert_over_keras": MODELS[(model, layer)],
        "target_of_bare_litert": TARGET_OF_BARE,
        "codes_library_keras_vs_litert": agreement(codes["keras"], codes["litert"]),
        "codes_bare_keras_vs_litert": agreement(codes["bare_keras"], codes["bare_litert"]),
    }
    if int8 is not None:
        result["int8_dynamic"] = int8_quality(int8, bare[BATCH], codes, pipelines["litert"].encoder_, tflite)
    if not args.no_threads:
        result["threads"] = bench_threads(pipelines["litert"], tflite, paths, args.thread_repeats)
    del inputs, bare, int8
    gc.collect()
    return result


def paired_ratios(row: dict, reference: dict) -> dict:
    """Throughput of ``row`` over ``reference`` within each round (the rounds ran them close together): median, range."""
    ratios = [(row["images"] / t) / (reference["images"] / t_ref) for t, t_ref in zip(row["times_s"], reference["times_s"])]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios), "each": ratios}


def int8_quality(int8: BareInterpreter, float_model: BareInterpreter, codes: dict, encoder, tflite: Path) -> dict:
    """The int8 model's codes against the float LiteRT model's: on the folder (from the timed runs), on the real photos."""
    photos = list(load_real_photos().values())
    pixels = encoder.preprocess(to_unit_float(photos_at(photos, encoder.image_size))).astype(np.float32)
    extra = (-len(pixels)) % BATCH  # the bare interpreters run full batches: pad, then drop the padding
    padded = np.concatenate([pixels, pixels[:extra]])
    on_photos = (float_model.run(padded)[: len(pixels)], int8.run(padded)[: len(pixels)])
    return {
        "float_tflite_bytes": tflite.stat().st_size,
        "int8_tflite_bytes": int8.path.stat().st_size,
        "folder": agreement(codes["bare_litert"], codes["int8"]),
        "real_photos": agreement(*on_photos),
    }


def bench_threads(pipeline: Pipeline, tflite: Path, paths: list[str], rounds: int) -> dict:
    """``transform`` with each (decoding threads, interpreter threads) choice, interleaved; restores the pipeline."""
    encoder, model = pipeline.encoder_, pipeline.model_
    original = (encoder.features_, model.n_jobs)
    interpreters = {threads: LiteRTModel(tflite, threads=threads) for threads in {t for _, t in THREAD_CHOICES}}

    def choice(jobs, threads):
        def run():
            model.n_jobs, encoder.features_ = jobs, interpreters[threads]
            pipeline.transform(paths)
        return run

    variants = {f"n_jobs={jobs},threads={threads}": choice(jobs, threads) for jobs, threads in THREAD_CHOICES}
    for interpreter in interpreters.values():  # warm-up: each interpreter's tensors allocated
        interpreter.predict_on_batch(np.zeros((BATCH, *interpreter.input_shape[1:]), np.float32))
    try:
        timings = interleaved(variants, rounds)
    finally:
        encoder.features_, model.n_jobs = original
    rows = {name: {**timing, "images": len(paths), "images_per_s": len(paths) / timing["median_s"]}
            for name, timing in timings.items()}
    fastest = max(rows, key=lambda name: rows[name]["images_per_s"])
    default = f"n_jobs={THREAD_CHOICES[-1][0]},threads={THREAD_CHOICES[-1][1]}"
    for name, row in rows.items():
        row["fastest_over_this"] = rows[fastest]["images_per_s"] / row["images_per_s"]
        row["paired_over_both_2"] = paired_ratios(row, rows[default])
    return {"rows": rows, "fastest": fastest, "library_default": f"n_jobs={len(os.sched_getaffinity(0))},"
            f"threads={inference_threads()}"}


# --------------------------------------------------------------------------- report


def print_model(result: dict, n: int, args: argparse.Namespace) -> None:
    rows = result["rows"]
    loads = [load for row in rows.values() for load in row.get("load_1min_before", [])]
    print(f"\n{result['model']} (layer {result['layer']!r}, {result['image_size']} px), {n} JPEGs, median of "
          f"{args.repeats} interleaved rounds ({args.fit_repeats} of the fits) (1-min load average {min(loads):.1f}–{max(loads):.1f} on "
          f"{len(os.sched_getaffinity(0))} CPUs)")
    print(f"{'':44}{'seconds':>9}{'CPU s':>7}{'images/s':>10}{'/bare LiteRT':>13}{'LiteRT/Keras':>13}")
    speedups = result["litert_over_keras"]
    lines = [
        ("bare Keras, batch 8", "bare_keras_batch8", None),
        ("bare LiteRT, batch 8, 2 threads", "bare_litert_batch8", speedups["bare"]),
        ("bare LiteRT, batch 1, 2 threads", "bare_litert_batch1", None),
        ("bare LiteRT int8 dynamic, batch 8, 2 thr.", "bare_litert_int8_dynamic_batch8", None),
        ("library keras  fit (whole)", "library_keras_fit", None),
        ("library keras  fit: read+encode phase", "library_keras_fit_read_and_encode", None),
        ("library keras  transform", "library_keras_transform", None),
        ("library decoding alone (reader, 2 threads)", "library_decode_only", None),
        ("library litert fit (whole)", "library_litert_fit", speedups["fit"]),
        ("library litert fit: read+encode phase", "library_litert_fit_read_and_encode", speedups["fit_read_and_encode"]),
        ("library litert transform", "library_litert_transform", speedups["transform"]),
    ]
    for label, key, speedup in lines:
        if key in rows:
            row = rows[key]
            cpu = f"{row['cpu_median_s']:7.1f}" if "cpu_median_s" in row else f"{'':7}"
            print(f"{label:44}{row['median_s']:9.2f}{cpu}{row['images_per_s']:10.1f}{row['of_bare_litert']:13.2f}"
                  + (f"{speedup:13.2f}" if speedup is not None else ""))
    for kind in ("keras", "litert"):
        print(f"fit phases, {kind} (median s):", {k: round(v, 2) for k, v in rows[f"library_{kind}_fit"]["phases_median_s"].items()})
    target = result["target_litert_over_keras"]
    print(f"targets: library litert transform / bare LiteRT {rows['library_litert_transform']['of_bare_litert']:.2f} "
          f"(≥ {TARGET_OF_BARE}), fit's read+encode {rows['library_litert_fit_read_and_encode']['of_bare_litert']:.2f}; "
          f"library litert / keras transform {speedups['transform']:.2f} (≥ {target}), "
          f"fit {speedups['fit']:.2f}")
    print(f"  bound where decoding and inference share the cores: 1 / (1/bare + 1/decoding) = "
          f"{result['decode_plus_infer_bound_of_bare_litert']:.2f} of bare LiteRT")
    targets = {"library_litert_transform_of_bare_litert": TARGET_OF_BARE, "library_litert_over_keras_transform": target,
               "library_litert_over_keras_fit": target}
    for name, ratio in result["paired_ratios"].items():
        print(f"  paired within rounds: {name:42} median {ratio['median']:.2f} (range {ratio['min']:.2f}–{ratio['max']:.2f})"
              + (f"  target ≥ {targets[name]}" if name in targets else ""))
    for what, key in (("library", "codes_library_keras_vs_litert"), ("bare", "codes_bare_keras_vs_litert")):
        a = result[key]
        print(f"codes keras vs litert ({what}): max ‖a−b‖/‖a‖ {a['rel_l2_max']:.2e}, max|a−b|/max|a| "
              f"{a['rel_maxabs']:.2e}, top-10 same {a['top10_same']:.1%}")
    if "int8_dynamic" in result:
        for where in ("folder", "real_photos"):
            a = result["int8_dynamic"][where]
            print(f"int8 dynamic vs float LiteRT, {where} ({a['n_images']}): max ‖a−b‖/‖a‖ {a['rel_l2_max']:.3f} "
                  f"(median {a['rel_l2_median']:.3f}), max|a−b|/max|a| {a['rel_maxabs']:.3f}, top-10 same "
                  f"{a['top10_same']:.1%}, top-10 overlap {a['top10_overlap_mean']:.3f}")
    if "threads" in result:
        threads = result["threads"]
        print(f"threads, library litert transform (library default {threads['library_default']}):")
        for name, row in threads["rows"].items():
            paired = row["paired_over_both_2"]
            print(f"  {name:22}{row['median_s']:8.2f} s{row['images_per_s']:8.1f} images/s   fastest is "
                  f"{row['fastest_over_this']:.2f}× this; paired vs 2+2: {paired['median']:.2f} "
                  f"({paired['min']:.2f}–{paired['max']:.2f})" + ("   <- fastest" if name == threads["fastest"] else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="JPEGs in the folder (made once, cached)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds of the bare runs and transforms")
    parser.add_argument("--fit-repeats", type=int, default=2, help="interleaved rounds of the two fits")
    parser.add_argument("--thread-repeats", type=int, default=3, help="interleaved rounds of the thread choices")
    parser.add_argument("--no-threads", action="store_true", help="skip the thread choices")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 row")
    args = parser.parse_args()

    start = time.perf_counter()
    folder = photo_folder(args.images)
    paths, _ = find_images(folder)
    print(f"{len(paths)} JPEGs in {folder} ({time.perf_counter() - start:.1f} s)")
    results = [bench_model(model, layer, folder, paths, args) for model, layer in MODELS]
    for result in results:
        print_model(result, len(paths), args)
    print("wrote", write_results("bench_litert", args, results={"folder": folder_info(folder), "batch": BATCH,
                                                                 "bare_threads": BARE_THREADS, "models": results}))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
