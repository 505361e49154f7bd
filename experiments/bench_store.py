"""A CodeStore of millions of codes on this machine: memory while adding, load time, search, remove, compact, crash.

Synthetic codes stand in for encoded images: 1,280 values each (EfficientNet's pooled width), the ReLU of a random
linear map of a 64-d latent space that holds 1,000 Gaussian clusters, plus noise. Like real codes, they have a few
underlying factors in many values (isotropic Gaussian codes of 1,280 dimensions would make every neighbour almost
equally far: no index could rank them). Queries are fresh draws, not codes of the store.

Each step runs in its own child process (this script with ``--step``), so that each peak RSS is that step's alone:

1. ``build``: ``add`` in batches of ``--batch`` codes, up to half the codes; RSS after each batch.
2. ``measure``: open the store (load time), the first query (which reads the compressed lists), then ``--queries``
   queries one at a time (latency), and recall@10 against the exact search over the same store; index memory;
   then recall and latency for other numbers of lists visited and candidates re-ranked.
3. ``build`` on to all the codes, and ``measure`` again.
4. ``remove`` 1 % of the images at random, then ``compact``.
5. ``crash``: an ``add`` child is killed (SIGKILL) in the middle of a batch; the store must hold every batch it
   reported added, exactly.

Run: ``python experiments/bench_store.py`` (2,000,000 codes, about 5 GB of float16 on disk in ``--folder``: the
issue's setting, half the disk of float32, which the store's default keeps; an hour
on 2 cores); ``--codes 200000 --batch 20000`` for a quick run. Writes ``results/bench_store.json`` and the plot
``results/bench_store_rss.svg``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import memory_mb
from cae_sim.store import CodeStore

WIDTH = 1280
LATENT = 64
CLUSTERS = 1000
TARGET_RSS_MB = 2000
TARGET_LOAD_S = 1.0
TARGET_RECALL = 0.95
TARGET_QUERY_MS = 10.0
#: Rows generated at once: bounds the generator's own memory.
CHUNK = 10_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=2_000_000, help="codes in the end (default 2000000)")
    parser.add_argument("--batch", type=int, default=100_000, help="codes per add (default 100000)")
    parser.add_argument("--queries", type=int, default=100, help="queries measured at each size (default 100)")
    parser.add_argument("--folder", type=Path, default=None, help="where the store goes (default: a temporary folder)")
    parser.add_argument("--query-seed", type=int, default=0, help="which set of fresh queries is measured (default 0)")
    parser.add_argument("--step", choices=["build", "measure", "remove", "crash"], help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def synthetic_codes(first: int, n: int) -> np.ndarray:
    """Codes ``first`` … ``first + n - 1`` of the synthetic collection (the same codes whoever asks)."""
    mixing = np.random.default_rng(12345).standard_normal((LATENT, WIDTH), dtype=np.float32) / np.sqrt(LATENT)
    centres = np.random.default_rng(54321).standard_normal((CLUSTERS, LATENT), dtype=np.float32) * 2
    out = np.empty((n, WIDTH), np.float32)
    for start in range(0, n, CHUNK):
        rng = np.random.default_rng([first + start, 7])  # one generator per chunk of the collection
        rows = min(CHUNK, n - start)
        latent = centres[rng.integers(0, CLUSTERS, rows)] + rng.standard_normal((rows, LATENT), dtype=np.float32)
        out[start:start + rows] = np.maximum(latent @ mixing, 0) + 0.05 * rng.standard_normal((rows, WIDTH), dtype=np.float32)
    return out


def paths(first: int, n: int) -> list[str]:
    return [f"/photos/{i // 1000:05d}/{i}.jpg" for i in range(first, first + n)]


# ---------------------------------------------------------------------------- the steps, each in a child


def build(folder: Path, start: int, stop: int, batch: int) -> dict:
    """Add codes ``start`` … ``stop`` in batches; the RSS and the time of each."""
    store = CodeStore.open(folder) if folder.exists() else CodeStore.create(folder, WIDTH, dtype="float16")
    rows = []
    for first in range(start, stop, batch):
        n = min(batch, stop - first)
        began = time.perf_counter()
        codes = synthetic_codes(first, n)
        made = time.perf_counter()
        store.add(codes, paths(first, n))
        rows.append({"size": len(store), "add_s": round(time.perf_counter() - made, 2),
                     "generate_s": round(made - began, 2), "rss_mb": round(memory_mb.rss_mb(), 1),
                     "peak_rss_mb": round(memory_mb.rss_mb("VmHWM"), 1)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    store.close()
    return {"batches": rows, "peak_rss_mb": round(memory_mb.rss_mb("VmHWM"), 1)}


def measure(folder: Path, n_queries: int, query_seed: int) -> dict:
    """Load time, first and later query latency, recall@10 against exact search, index and process memory."""
    queries = synthetic_codes(10**9 + 10**6 * query_seed, n_queries)
    began = time.perf_counter()
    store = CodeStore.open(folder)
    opened = time.perf_counter() - began
    began = time.perf_counter()
    store.search(queries[:1], 10)
    first_query = time.perf_counter() - began
    times, found = [], []
    for query in queries:
        began = time.perf_counter()
        found.append(store.search(query[np.newaxis], 10)[1][0])
        times.append(time.perf_counter() - began)
    peak_searching = memory_mb.proc_status_mb("VmHWM", "RssAnon", "RssFile")
    index_bytes = store.compressed.memory_bytes()
    store.index = "exact"
    began = time.perf_counter()
    _, truth = store.search(queries, 10)
    exact_s = time.perf_counter() - began
    recall = _recall(found, truth)
    store.index = "auto"
    grid = []
    for n_probe in (8, 16):
        for candidates in (100, 200, 400):
            store.compressed.n_probe, store.compressed.candidates = n_probe, candidates
            began = time.perf_counter()
            answers = [store.search(query[np.newaxis], 10)[1][0] for query in queries]
            grid.append({"n_probe": n_probe, "candidates": candidates, "recall_at_10": round(_recall(answers, truth), 4),
                         "mean_query_ms": round((time.perf_counter() - began) / len(queries) * 1000, 2)})
    size = len(store)
    disk = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    store.close()
    return {
        "size": size, "open_s": round(opened, 4), "first_query_s": round(first_query, 3),
        "query_s": times, "recall_at_10": round(recall, 4),
        "exact_search_ms_per_query": round(exact_s / n_queries * 1000, 1),
        "index_mb": round(memory_mb.bytes_to_mb(index_bytes), 1),
        "raw_float32_codes_mb": round(memory_mb.bytes_to_mb(size * WIDTH * 4), 1),
        "disk_mb": round(memory_mb.bytes_to_mb(disk), 1), "peak_rss_searching_mb": round(peak_searching["VmHWM"], 1),
        "rss_anon_and_file_after_queries_mb": [round(peak_searching["RssAnon"], 1), round(peak_searching["RssFile"], 1)],
        "n_probe_and_candidates": grid,
    }


def _recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    """Recall@k: the share of each query's true k nearest that were found, averaged."""
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))


def remove_and_compact(folder: Path) -> dict:
    store = CodeStore.open(folder)
    ids, _ = store.labels()
    gone = np.random.default_rng(3).choice(ids, len(ids) // 100, replace=False)
    began = time.perf_counter()
    store.remove(gone.tolist())
    removed_s = time.perf_counter() - began
    began = time.perf_counter()
    purged = store.compact()
    compact_s = time.perf_counter() - began
    result = {"removed": len(gone), "remove_s": round(removed_s, 2), "purged": purged, "compact_s": round(compact_s, 1),
              "size_after": len(store), "segments_after": len(store.catalogue.segments()),
              "peak_rss_mb": round(memory_mb.rss_mb("VmHWM"), 1)}
    store.close()
    return result


def crash(folder: Path, batch: int, script: Path) -> dict:
    """Kill an adding child (SIGKILL) in the middle of its second batch; check every batch it reported."""
    first = 10**8  # codes no other step made
    command = [sys.executable, str(script), "--step", "build", "--folder", str(folder), "--start", str(first),
               "--stop", str(first + 10 * batch), "--batch", str(batch)]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    reported = [json.loads(child.stderr.readline())]
    time.sleep(reported[0]["add_s"] / 2)  # half-way through the next add
    child.send_signal(signal.SIGKILL)
    child.wait()
    reported += [json.loads(line) for line in child.stderr.read().splitlines() if line.startswith("{")]
    store = CodeStore.open(folder)
    kept = store.ids(paths(first, batch * len(reported)))
    intact = bool(np.array_equal(store.codes(kept), synthetic_codes(first, len(kept)).astype(np.float16).astype(np.float32)))
    lost_partial = len(store.catalogue.known(paths(first + batch * len(reported), batch)))
    store.close()
    return {"batches_reported": len(reported), "codes_reported": batch * len(reported), "all_reported_kept_intact": intact,
            "codes_of_the_killed_batch_in_the_store": lost_partial}


# ---------------------------------------------------------------------------- the parent


def child(args: argparse.Namespace, step: str, **options) -> dict:
    command = [sys.executable, __file__, "--step", step, "--folder", str(args.folder), "--batch", str(args.batch),
               "--queries", str(args.queries), "--query-seed", str(args.query_seed)] + [f"--{name}={value}" for name, value in options.items()]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(done.stdout.splitlines()[-1])


def rss_plot(batches: list[dict], path: Path) -> None:
    """An SVG line of the adding process's RSS against the store's size."""
    width, height, margin = 480, 240, 50
    top = max(TARGET_RSS_MB, max(row["rss_mb"] for row in batches)) * 1.1
    right = batches[-1]["size"]

    def x(size):
        return margin + (width - 2 * margin) * size / right

    def y(mb):
        return height - margin + (2 * margin - height) * mb / top

    points = " ".join(f"{x(row['size']):.1f},{y(row['rss_mb']):.1f}" for row in batches)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">\n'
        f'<line x1="{margin}" y1="{y(0)}" x2="{width - margin}" y2="{y(0)}" stroke="black"/>\n'
        f'<line x1="{margin}" y1="{y(0)}" x2="{margin}" y2="{y(top)}" stroke="black"/>\n'
        f'<line x1="{margin}" y1="{y(TARGET_RSS_MB):.1f}" x2="{width - margin}" y2="{y(TARGET_RSS_MB):.1f}" stroke="red" stroke-dasharray="4"/>\n'
        f'<text x="{width - margin}" y="{y(TARGET_RSS_MB) - 4:.1f}" text-anchor="end" fill="red">target {TARGET_RSS_MB} MB</text>\n'
        f'<polyline points="{points}" fill="none" stroke="steelblue" stroke-width="2"/>\n'
        f'<text x="{margin}" y="{y(0) + 16}">0</text><text x="{width - margin}" y="{y(0) + 16}" text-anchor="end">{right:,} codes</text>\n'
        f'<text x="{margin - 4}" y="{y(top) + 10:.1f}" text-anchor="end">{top:.0f}</text>\n'
        f'<text x="{margin}" y="{margin - 20}">RSS of the adding process after each add (MB)</text>\n</svg>\n')


def main() -> None:
    args = parse_args()
    # the steps' children measure their own memory: only the parent loads benchlib (and with it TensorFlow)
    if args.step:
        steps = {"build": lambda: build(args.folder, args.start, args.stop, args.batch),
                 "measure": lambda: measure(args.folder, args.queries, args.query_seed),
                 "remove": lambda: remove_and_compact(args.folder)}
        print(json.dumps(steps[args.step]()))
        return
    scratch = None
    if args.folder is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench_store-"))
        args.folder = scratch / "store"
    try:
        half = args.codes // 2 // args.batch * args.batch
        first = child(args, "build", start=0, stop=half)
        at_half = child(args, "measure")
        second = child(args, "build", start=half, stop=args.codes)
        at_full = child(args, "measure")
        removal = child(args, "remove")
        crashed = crash(args.folder, args.batch, Path(__file__))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    import benchlib

    for measured in (at_half, at_full):
        measured["query_ms"] = benchlib.latency_summary(measured.pop("query_s"))
    batches = first["batches"] + second["batches"]
    rss_plot(batches, benchlib.RESULTS / "bench_store_rss.svg")
    results = {"build": batches, "peak_rss_adding_mb": max(first["peak_rss_mb"], second["peak_rss_mb"]),
               "measured": [at_half, at_full], "remove_and_compact": removal, "crash": crashed,
               "targets": {"peak_rss_mb": TARGET_RSS_MB, "open_s": TARGET_LOAD_S, "recall_at_10": TARGET_RECALL,
                           "query_ms": TARGET_QUERY_MS, "index_share_of_raw_codes": 0.10}}
    print(json.dumps(results, indent=2))
    benchlib.write_results("bench_store", args, results=results)


if __name__ == "__main__":
    main()
