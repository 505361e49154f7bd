"""Throughput of ``Pipeline(encoder="efficientnet_lite0").fit`` against the bare Keras model.

Question: does ``fit`` on a folder of JPEGs (reading, encoding at 224 px in
batches of 32, K-Means with 10 clusters) keep up with the bare Keras model's
``predict`` on the same images preloaded in memory? Target: ratio ≥ 0.9.

Both sides are warmed up first (a fit on a few images builds the model and its
weight cache and traces TensorFlow's functions; one ``predict`` call traces the
bare model), so those one-off costs are excluded from both. The network build
inside every ``fit`` (PretrainedEncoder.fit) stays in the fit time and is
reported on its own.

    python experiments/bench_pretrained_fit.py [--n 1000] [--size 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchlib import folder_info, make_jpeg_folder, time_call, timed_methods, write_results
import cae_sim.model
from cae_sim import KMeansClustering, Pipeline
from cae_sim.encoders.pretrained import PretrainedEncoder
from cae_sim.images import find_images, read_file
from cae_sim import tune_malloc

ENCODER, BATCH, CLUSTERS, SIDE = "efficientnet_lite0", 32, 10, 224
PHASES = {
    "build_network": (PretrainedEncoder, "fit"),
    "read_and_encode_streamed": (cae_sim.model, "encode_images"),
    "encode": (PretrainedEncoder, "encode"),
    "kmeans": (KMeansClustering, "fit"),
}


def make_pipeline() -> Pipeline:
    """The pipeline on Keras, the runtime this script compares with its bare model (LiteRT: bench_litert.py)."""
    return Pipeline(encoder=PretrainedEncoder(model=ENCODER, batch_size=BATCH, runtime="keras"), n_clusters=CLUSTERS,
                    random_state=0)


def time_fits(folder, repeats: int) -> tuple[dict, Pipeline]:
    """Time whole fits; return the timing (with the median seconds of each phase) and the last pipeline."""
    pipelines = []
    with timed_methods(PHASES) as intervals:
        timing = time_call(lambda: pipelines.append(make_pipeline().fit(folder)), repeats)
    timing["phases_median_s"] = {
        name: statistics.median(end - start for start, end in spans) for name, spans in intervals.items()
    }
    return timing, pipelines[-1]


def preloaded_inputs(folder, encoder: PretrainedEncoder) -> np.ndarray:
    """The folder's images decoded at 224 px, as float32 in [0, 1], preprocessed for the model."""
    paths, _ = find_images(folder)
    pixels = np.stack([read_file(path, SIDE) for path in paths]).astype(np.float32) / 255.0
    return np.asarray(encoder.preprocess(pixels), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of JPEGs")
    parser.add_argument("--size", type=int, default=256, help="side of the JPEGs in px")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    folder = make_jpeg_folder(args.n, args.size)
    make_pipeline().fit(sorted(map(str, folder.glob("*.jpg")))[:64])  # warm-up: build, cache, trace

    fit, pipeline = time_fits(folder, args.repeats)
    model = pipeline.encoder_.features_
    inputs = preloaded_inputs(folder, pipeline.encoder_)
    model.predict(inputs[:BATCH], batch_size=BATCH, verbose=0)  # warm-up
    predict = time_call(lambda: model.predict(inputs, batch_size=BATCH, verbose=0), args.repeats)

    fit_rate = args.n / fit["median_s"]
    fit_rate_no_build = args.n / (fit["median_s"] - fit["phases_median_s"]["build_network"])
    predict_rate = args.n / predict["median_s"]
    results = {
        "folder": folder_info(folder),
        "fit": fit,
        "predict_preloaded": predict,
        "fit_images_per_s": fit_rate,
        "fit_without_network_build_images_per_s": fit_rate_no_build,
        "predict_images_per_s": predict_rate,
        "ratio": fit_rate / predict_rate,
        "ratio_without_network_build": fit_rate_no_build / predict_rate,
        "target_ratio": 0.9,
    }
    print(f"{'':34}{'seconds':>9}{'images/s':>10}{'ratio':>7}")
    print(f"{'keras predict (preloaded)':34}{predict['median_s']:9.2f}{predict_rate:10.1f}{1:7.2f}")
    print(f"{'Pipeline.fit (whole)':34}{fit['median_s']:9.2f}{fit_rate:10.1f}{results['ratio']:7.2f}")
    print(f"{'Pipeline.fit minus network build':34}{args.n / fit_rate_no_build:9.2f}{fit_rate_no_build:10.1f}"
          f"{results['ratio_without_network_build']:7.2f}")
    print("fit phases (median s):", {k: round(v, 2) for k, v in fit["phases_median_s"].items()})
    print("wrote", write_results("bench_pretrained_fit", args, results=results))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
