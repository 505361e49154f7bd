"""Shared by the clustering experiments: run methods on labelled images, score them, plot, write JSON."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
from sklearn.cluster import KMeans

from benchlib import RESULTS, kept_rows, stamp, write_results
from cae_sim import Pipeline
from cae_sim.metrics import clustering_scores
from cae_sim.plots import cluster_grid, code_map, reconstructions, write_image


def kmeans_raw_pixels(images: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, None]:
    """K-Means on the flattened pixels scaled to [0, 1]."""
    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(flat), None


def pipeline_method(**params) -> Callable[[np.ndarray, int, int], tuple[np.ndarray, Pipeline]]:
    """A method that fits ``Pipeline(n_clusters=k, random_state=seed, **params)`` on the images."""

    def run(images: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, Pipeline]:
        pipeline = Pipeline(n_clusters=k, random_state=seed, **params).fit(images)
        return pipeline.labels_, pipeline

    return run


def run(methods: dict, images: np.ndarray, labels: np.ndarray, split: str, seed: int = 0) -> tuple[list[dict], dict]:
    """Fit each method; return result rows (method, split, acc, nmi, ari, purity, seconds, measured_at) and fitted pipelines."""
    k = len(np.unique(labels))
    rows, fitted = [], {}
    for name, method in methods.items():
        started = time.perf_counter()
        predicted, pipeline = method(images, k, seed)
        seconds = time.perf_counter() - started
        scores = {key: round(value, 4) for key, value in clustering_scores(labels, predicted).items()}
        rows.append(stamp({"method": name, "split": split, **scores, "seconds": round(seconds, 1)}))
        print(f"{split:>5}  {name:<34} acc {scores['acc']:.4f}  nmi {scores['nmi']:.4f}  ari {scores['ari']:.4f}  {seconds:7.1f} s", flush=True)
        if pipeline is not None:
            fitted[name] = pipeline
    return rows, fitted


def save_plots(name: str, pipeline: Pipeline, images: np.ndarray) -> list[str]:
    """Write the cluster grid, the code map and (for the autoencoder) reconstructions; return the file names."""
    written = [f"{name}_clusters.png", f"{name}_codes.png"]
    rows = [cluster_grid(pipeline, cluster, n=12, images=images, columns=12, tile=40) for cluster in np.unique(pipeline.labels_)]
    write_image(RESULTS / written[0], np.vstack(rows))  # one row per cluster, nearest to its centre first
    write_image(RESULTS / written[1], code_map(pipeline))
    if pipeline.encoder_.name == "cae":
        written.append(f"{name}_reconstructions.png")
        sample = images[:: max(1, len(images) // 12)][:12]
        write_image(RESULTS / written[-1], reconstructions(pipeline, sample, tile=40))
    return written


def experiment_main(name: str, doc: str, load: Callable, methods: dict, splits: tuple[str, ...], published=()) -> None:
    """The command line of a clustering experiment: ``--splits`` and ``--methods`` pick what runs.

    Rows of methods and splits not run now are kept from the previous results,
    and the default pipeline's plots are written for each split run.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=splits, default=list(splits))
    parser.add_argument("--methods", nargs="+", choices=list(methods), default=list(methods))
    args = parser.parse_args()

    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {"measured": [], "figures": []}
    measured, figures = [], []
    for split in args.splits:
        images, labels = load(split)
        rows, fitted = run({method: methods[method] for method in args.methods}, images, labels, split)
        measured += rows
        if "cae_sim default" in fitted:
            figures += save_plots(f"{name.removesuffix('_clustering')}_{split}", fitted["cae_sim default"], images)
    run_now = {(row["method"], row["split"]) for row in measured}
    kept = kept_rows([row for row in previous["measured"] if (row["method"], row["split"]) not in run_now])
    figures = sorted(set(previous.get("figures", [])) | set(figures))
    write_results(name, args, measured=kept + measured, published=list(published), figures=figures)
