"""Build time, query latency, recall and memory of cae_sim's indexes over up to a million clustered codes.

The codes are float32 points of ``--dim`` (128) floats drawn from ``--blobs``
(1,000) Gaussian blobs: random centres (standard normal), a spread of their own
(uniform in [0.5, 2] times the centres' scale), blobs equally likely. The
queries are ``--queries`` (2,000) held-out points of the same blobs. The metric
is cosine, the library's default. The blobs overlap: some of a query's true
neighbours lie in other blobs (the fraction in its own blob is reported). With
blobs far apart (spreads up to 1) every true neighbour lies in the query's blob,
which IVF finds by visiting a handful of lists: recall 1 at any ``n_probe``.

For each size in ``--n`` (100,000 and 1,000,000), in one run, through
``cae_sim.index.INDEXES`` with their defaults:

* ``"exact"`` (``ExactIndex``, NumPy): the reference;
* ``"faiss-ivf"``, its ``n_probe`` swept over 8, 16, 32, 64, 128;
* ``"faiss-ivfpq"`` (codes of 32 bytes), its ``n_probe`` swept over 16, 64, 256;
* ``"faiss-hnsw"``, its ``ef_search`` swept over 16, 32, 64, 128, 256.

Each index is built (fit) once; the knob is set on the fitted index (FAISS
reads it at search time). Reported for each setting:

* build seconds, the process' RSS after the build less that before it, and
  its peak during the build (VmRSS / VmHWM of /proc/self/status, the peak reset
  before each build through /proc/self/clear_refs);
* median latency of 200 single queries through ``kneighbors``, and of FAISS'
  own ``search`` of the same unit-length queries (what the wrapper costs);
* median latency of batches of 100 queries through ``kneighbors``, and per query;
* recall@10 against exact (the batches' results, over all queries), and the
  speed-up over exact, single and batched.

The FAISS OpenMP threads and the BLAS thread pools are recorded with the
results, with the process' CPU time, peak RSS and page faults.
Target (issue 10): an approximate index at least 10 times faster per query than
exact at recall@10 >= 0.95.

Run: ``python experiments/bench_search.py`` (``--n 20000 --queries 200`` for a quick run).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import resource
import time
from pathlib import Path

import benchlib
import faiss
import numpy as np
from threadpoolctl import threadpool_info

from cae_sim.codes import l2_normalize
from cae_sim.index import INDEXES

#: Accuracy knob of each approximate index and the values swept.
SWEEPS = {
    "faiss-ivf": ("n_probe", (8, 16, 32, 64, 128)),
    "faiss-ivfpq": ("n_probe", (16, 64, 256)),
    "faiss-hnsw": ("ef_search", (16, 32, 64, 128, 256)),
}
SINGLE_QUERIES = 200
BATCH = 100
SPREAD = (0.5, 2.0)
START = time.perf_counter()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000], help="codes indexed, one run each (default 100000 1000000)")
    parser.add_argument("--dim", type=int, default=128, help="length of a code (default 128)")
    parser.add_argument("--queries", type=int, default=2000, help=f"held-out queries: the first {SINGLE_QUERIES} timed one by one, all in batches of {BATCH} (default 2000)")
    parser.add_argument("--blobs", type=int, default=1000, help="Gaussian blobs the codes are drawn from (default 1000)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# --------------------------------------------------------------------------- data


def blob_model(rng: np.random.Generator, n_blobs: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Random blob centres (n_blobs, dim) and the spread of each blob (n_blobs,)."""
    return rng.standard_normal((n_blobs, dim), dtype=np.float32), rng.uniform(*SPREAD, n_blobs).astype(np.float32)


def draw(rng: np.random.Generator, centres: np.ndarray, spreads: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 points, each from a random blob, and the blob of each."""
    blob = rng.integers(len(centres), size=n)
    points = rng.standard_normal((n, centres.shape[1]), dtype=np.float32)
    points *= spreads[blob, None]
    points += centres[blob]
    return points, blob


# --------------------------------------------------------------------------- memory and threads


def memory_mb() -> dict:
    """VmRSS and VmHWM (peak) of this process, in MB (10**6 bytes)."""
    return benchlib.proc_status_mb("VmRSS", "VmHWM")


def release_memory() -> None:
    """Free what is unreachable and hand glibc's free heap back to the system, so the next build starts clean."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def threads() -> dict:
    """The FAISS OpenMP threads and every BLAS / OpenMP thread pool loaded."""
    pools = [{key: pool[key] for key in ("user_api", "internal_api", "prefix", "num_threads")} for pool in threadpool_info()]
    return {"faiss_omp_max_threads": faiss.omp_get_max_threads(), "threadpools": pools}


def process_usage() -> dict:
    """Wall seconds since the imports, CPU seconds, peak RSS and page faults of this process (as /usr/bin/time -v)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": time.perf_counter() - START,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "max_rss_mb": benchlib.kib_to_mb(usage.ru_maxrss),
        "minor_page_faults": usage.ru_minflt,
        "major_page_faults": usage.ru_majflt,
    }


# --------------------------------------------------------------------------- measuring


def build(name: str, codes: np.ndarray) -> tuple[object, dict]:
    """Fit ``INDEXES[name]`` on the codes; return it and its build seconds and memory."""
    release_memory()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = memory_mb()["VmRSS"]
    start = time.perf_counter()
    index = INDEXES[name](metric="cosine").fit(codes)
    seconds = time.perf_counter() - start
    after = memory_mb()
    print(f"  built {name} in {seconds:.1f} s", flush=True)
    return index, {
        "build_s": seconds,
        "rss_added_mb": after["VmRSS"] - before,
        "peak_rss_added_during_build_mb": after["VmHWM"] - before,
        "rss_after_build_mb": after["VmRSS"],
        "params": index.get_params(),
    }


def single_latency(search, queries: np.ndarray) -> dict:
    """Latency of ``search`` on each query alone (after one warm-up query)."""
    search(queries[:1])
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query[np.newaxis])
        times.append(time.perf_counter() - start)
    return benchlib.latency_summary(times)


def batch_latency(search, queries: np.ndarray) -> tuple[dict, np.ndarray]:
    """Latency of ``search`` on batches of ``BATCH`` queries, and per query; the positions it found for all queries."""
    times, found = [], []
    for start in range(0, len(queries), BATCH):
        batch = queries[start : start + BATCH]
        began = time.perf_counter()
        found.append(search(batch))
        times.append((time.perf_counter() - began, len(batch)))
    per_query = benchlib.latency_summary([seconds / size for seconds, size in times])
    return {"batch": benchlib.latency_summary([seconds for seconds, _ in times]), "per_query": per_query}, np.concatenate(found)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each query's true neighbours that were found."""
    return float(np.mean([len(np.intersect1d(a, b)) for a, b in zip(found, truth)]) / truth.shape[1])


def faiss_parameters(index):
    """The search parameters ``index.kneighbors`` passes FAISS at its current setting, from its public attributes."""
    if index.kind.startswith("IVF"):
        return faiss.SearchParametersIVF(sel=index.selector_, nprobe=min(index.n_probe, index.index_.nlist))
    if index.kind == "HNSW":
        return faiss.SearchParametersHNSW(sel=index.selector_, efSearch=index.ef_search)
    return faiss.SearchParameters(sel=index.selector_)


def measure(index, queries: np.ndarray, k: int, truth: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Single and batched latency of the index at its current setting, and recall (1 without ``truth``); the positions found."""

    def search(batch):
        return index.kneighbors(batch, k)[1]

    row = {"single": single_latency(search, queries[:SINGLE_QUERIES])}
    if hasattr(index, "index_"):
        parameters = faiss_parameters(index)  # what kneighbors passes FAISS at this setting

        def faiss_search(batch):
            return index.index_.search(batch, k, params=parameters)[1]

        row["single_faiss_search"] = single_latency(faiss_search, l2_normalize(queries[:SINGLE_QUERIES]))
    row["batched"], found = batch_latency(search, queries)
    row["recall_at_k"] = 1.0 if truth is None else recall(found, truth)
    return row, found


def run_size(codes: np.ndarray, queries: np.ndarray, k: int) -> tuple[dict, np.ndarray]:
    """Build every index over the codes and measure each setting, exact first as the reference; the true neighbours."""
    exact, exact_build = build("exact", codes)
    row, truth = measure(exact, queries, k)
    rows = [{"index": "exact", "setting": "", **row}]
    builds = {"exact": exact_build}
    del exact
    for name, (knob, values) in SWEEPS.items():
        index, builds[name] = build(name, codes)
        default = getattr(index, knob)
        for value in sorted({*values, default}):
            setattr(index, knob, value)
            row, _ = measure(index, queries, k, truth)
            rows.append({"index": name, "setting": f"{knob}={value}" + (" (default)" if value == default else ""), **row})
        del index
    for row in rows:
        row["speed_up_single"] = rows[0]["single"]["median_ms"] / row["single"]["median_ms"]
        row["speed_up_batched"] = rows[0]["batched"]["per_query"]["median_ms"] / row["batched"]["per_query"]["median_ms"]
    return {"builds": builds, "settings": rows}, truth


# --------------------------------------------------------------------------- report


def print_size(n: int, result: dict, k: int) -> None:
    """Print the builds and one line per setting."""
    print(f"{n:,} codes ({result['true_neighbours_in_query_blob']:.1%} of the true neighbours in the query's blob):")
    for name, info in result["builds"].items():
        print(f"  {name:11s} build {info['build_s']:8.1f} s   RSS +{info['rss_added_mb']:7.0f} MB (peak +{info['peak_rss_added_during_build_mb']:.0f} MB)")
    print(f"  {'index':11s} {'setting':24s} {'1 query ms':>10s} {'faiss ms':>9s} {'batch ms/q':>10s} {f'recall@{k}':>9s} {'x exact 1':>9s} {'x batch':>8s}")
    for row in result["settings"]:
        faiss_ms = f"{row['single_faiss_search']['median_ms']:9.3f}" if "single_faiss_search" in row else f"{'':9s}"
        print(
            f"  {row['index']:11s} {row['setting']:24s} {row['single']['median_ms']:10.3f} {faiss_ms} "
            f"{row['batched']['per_query']['median_ms']:10.3f} {row['recall_at_k']:9.3f} "
            f"{row['speed_up_single']:9.1f} {row['speed_up_batched']:8.1f}"
        )


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    centres, spreads = blob_model(rng, args.blobs, args.dim)
    queries, query_blobs = draw(rng, centres, spreads, args.queries)
    thread_pools = threads()
    print(f"threads: {thread_pools}")
    sizes = {}
    for n in args.n:
        codes, code_blobs = draw(np.random.default_rng([args.seed, n]), centres, spreads, n)
        print(f"building the indexes over {n:,} codes", flush=True)
        load = os.getloadavg()
        result, truth = run_size(codes, queries, args.k)
        own_blob = float(np.mean(code_blobs[truth] == query_blobs[:, None]))
        sizes[n] = {"load_average_1_5_15_before": load, "true_neighbours_in_query_blob": own_blob, **result}
        print_size(n, sizes[n], args.k)
        del codes
    results = {"threads": thread_pools, "sizes": sizes, "process": process_usage()}
    print(f"process: {results['process']}")
    print(f"wrote {benchlib.write_results('bench_search', args, results=results)}")


if __name__ == "__main__":
    main()
