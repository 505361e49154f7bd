"""Latency of a one-image query over 100,000 codes: ExactIndex against scikit-learn and a plain NumPy top-k.

Compares, in the same run and in turns (so that a change in the machine's load
affects all alike), on the same unit-length codes:

* ``ExactIndex("cosine").kneighbors(q, k)``, the index ``Pipeline`` uses below 100,000 codes;
* scikit-learn's ``NearestNeighbors(algorithm="brute")`` (euclidean distance,
  which ranks unit codes as cosine does), the index ``ExactIndex`` replaced;

  both as is and with their OpenMP / BLAS threads limited to one (threadpoolctl:
  on a busy machine, waiting for a second thread can cost more than the search);
* NumPy: unit-length codes @ unit-length query, ``argpartition`` for the top k, then a sort;

asserts that ExactIndex returns the same neighbours as scikit-learn, in the same
order, then times a whole ``Pipeline.query`` over the same 100,000 codes (a
pipeline fitted on the sample photos, whose index is then replaced by one over
the 100,000 codes) with the parts it is made of: encoding the image and searching.

Run: ``python experiments/bench_query.py`` (``--n-codes 10000`` for a quick run).
"""

from __future__ import annotations

import argparse
import time

import benchlib
import cv2
import numpy as np
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import ThreadpoolController

from cae_sim.collection import Collection
from cae_sim import Pipeline
from cae_sim.codes import l2_normalize
from cae_sim.index import ExactIndex
from cae_sim import tune_malloc


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-codes", type=int, default=100_000, help="codes in the index (default 100000)")
    parser.add_argument("--dim", type=int, default=32, help="length of a code (default 32)")
    parser.add_argument("--queries", type=int, default=200, help="single queries timed (default 200)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def numpy_top_k(unit_codes: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` unit codes most cosine-similar to one query code, best first."""
    similarities = unit_codes @ (query / np.linalg.norm(query))
    top = np.argpartition(-similarities, k - 1)[:k]
    return top[np.argsort(-similarities[top], kind="stable")]


def time_in_turns(functions: dict, arguments: list) -> dict:
    """Call each function once per argument, all functions in turn; return name: (latencies s, results)."""
    out = {name: ([], []) for name in functions}
    for argument in arguments:
        for name, function in functions.items():
            start = time.perf_counter()
            result = function(argument)
            out[name][0].append(time.perf_counter() - start)
            out[name][1].append(result)
    return out


def agreement(found: list[np.ndarray], expected: list[np.ndarray]) -> dict:
    """How many queries got the same neighbours in the same order, and as the same set."""
    return {
        "queries": len(expected),
        "same_order": sum(np.array_equal(a, b) for a, b in zip(found, expected)),
        "same_set": sum(set(a.tolist()) == set(b.tolist()) for a, b in zip(found, expected)),
    }


def one_thread(function):
    """``function`` run with its OpenMP / BLAS threads limited to one (threadpoolctl)."""
    controller = ThreadpoolController()

    def limited(argument):
        with controller.limit(limits=1):
            return function(argument)

    return limited


def search_benchmark(codes: np.ndarray, queries: np.ndarray, k: int) -> tuple[ExactIndex, np.ndarray, dict]:
    """Time ExactIndex.kneighbors, scikit-learn's brute force and the NumPy top-k on single queries; assert they agree."""
    start = time.perf_counter()
    index = ExactIndex("cosine").fit(codes)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    unit = l2_normalize(codes)
    normalise_s = time.perf_counter() - start
    start = time.perf_counter()
    brute = NearestNeighbors(algorithm="brute", metric="euclidean").fit(unit)
    sklearn_fit_s = time.perf_counter() - start

    def exact(query):
        return index.kneighbors(query[np.newaxis], k)[1][0]

    def sklearn(query):
        return brute.kneighbors(l2_normalize(query[np.newaxis]), k, return_distance=False)[0]

    runs = time_in_turns(
        {
            "ExactIndex.kneighbors": exact,
            "ExactIndex.kneighbors, 1 thread": one_thread(exact),
            "NearestNeighbors(brute).kneighbors": sklearn,
            "NearestNeighbors(brute).kneighbors, 1 thread": one_thread(sklearn),
            "numpy dot + argpartition": lambda q: numpy_top_k(unit, q, k),
        },
        list(queries),
    )
    latency = {name: benchlib.latency_summary(times) for name, (times, _) in runs.items()}
    median = {name: summary["median_ms"] for name, summary in latency.items()}
    expected = runs["NearestNeighbors(brute).kneighbors"][1]
    results = {
        "exact_index_fit_s": fit_s,
        "numpy_normalise_codes_s": normalise_s,
        "sklearn_fit_s": sklearn_fit_s,
        "latency": latency,
        "sklearn_median_over_exact_index": {
            threads: median[f"NearestNeighbors(brute).kneighbors{suffix}"] / median[f"ExactIndex.kneighbors{suffix}"]
            for threads, suffix in {"as is": "", "1 thread": ", 1 thread"}.items()
        },
        "exact_index_median_over_numpy": median["ExactIndex.kneighbors"] / median["numpy dot + argpartition"],
        "agreement_with_sklearn": {name: agreement(runs[name][1], expected) for name in runs if not name.startswith("NearestNeighbors")},
    }
    for name in ("ExactIndex.kneighbors", "ExactIndex.kneighbors, 1 thread"):
        assert np.array_equal(runs[name][1], expected), f"{name} and scikit-learn found different neighbours"
    return index, unit, results


def query_benchmark(index: ExactIndex, unit: np.ndarray, n_queries: int, k: int) -> dict:
    """Time Pipeline.query over the indexed codes, and the parts it is made of."""
    pipeline = Pipeline(encoder="cae", image_size=64, code_size=unit.shape[1], epochs=1, n_clusters=2, random_state=0).fit(benchlib.PHOTOS)
    pipeline.collection_ = Collection(index.codes_, np.zeros(len(index.codes_), np.int64), None, index=index)
    path = str(sorted(benchlib.PHOTOS.glob("*.jpg"))[0])
    image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)[np.newaxis]
    codes = {"array": pipeline.transform(image[np.newaxis]), "path": pipeline.transform([path])}
    pipeline.query(image, k)  # warm up
    runs = time_in_turns(
        {
            "Pipeline.query(array 256 px)": lambda _: [m.index for m in pipeline.query(image, k)],
            "Pipeline.query(path)": lambda _: [m.index for m in pipeline.query(path, k)],
            "  transform(one array): resize + encode": lambda _: pipeline.transform(image[np.newaxis]),
            "  transform([path]): read + encode": lambda _: pipeline.transform([path]),
            "  encoder.encode(one 64 px uint8)": lambda _: pipeline.encoder_.encode(small),
            "  index.kneighbors(one code)": lambda _: index.kneighbors(codes["array"], k),
            "  numpy top-k (one code)": lambda _: numpy_top_k(unit, codes["array"][0], k),
        },
        range(n_queries),
    )
    routes = {"array": "Pipeline.query(array 256 px)", "path": "Pipeline.query(path)"}
    return {
        "query_image": path,
        "latency": {name: benchlib.latency_summary(times) for name, (times, _) in runs.items()},
        "query_matches_numpy_top_k_of_its_code": {
            name: all(np.array_equal(found, numpy_top_k(unit, codes[route][0], k)) for found in runs[name][1])
            for route, name in routes.items()
        },
    }


def print_latencies(latency: dict) -> None:
    """Print the median and 90th percentile of each timed call."""
    for name, summary in latency.items():
        print(f"  {name:42s} median {summary['median_ms']:8.3f} ms   p90 {summary['p90_ms']:8.3f} ms")


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    codes = rng.standard_normal((args.n_codes, args.dim), dtype=np.float32)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)

    index, unit, search = search_benchmark(codes, queries, args.k)
    print(f"{args.queries} single queries, top {args.k} of {args.n_codes} codes of {args.dim} floats:")
    print(f"  ExactIndex fit {search['exact_index_fit_s']:.3f} s, NearestNeighbors(brute) fit {search['sklearn_fit_s']:.3f} s")
    print_latencies(search["latency"])
    for threads, ratio in search["sklearn_median_over_exact_index"].items():
        print(f"  median NearestNeighbors(brute) / ExactIndex ({threads}): {ratio:.2f}")
    print(f"  median ExactIndex / numpy: {search['exact_index_median_over_numpy']:.2f}")
    for name, same in search["agreement_with_sklearn"].items():
        print(f"  {name}: same top {args.k} as scikit-learn for {same['same_order']}/{same['queries']} queries in order, {same['same_set']} as sets")

    query = query_benchmark(index, unit, args.queries, args.k)
    print(f"Pipeline.query over the same {args.n_codes} codes:")
    print_latencies(query["latency"])
    print(f"  same as the numpy top {args.k} of the query's code: {query['query_matches_numpy_top_k_of_its_code']}")

    results = {"search": search, "pipeline_query": query}
    print(f"wrote {benchlib.write_results('bench_query', args, results=results)}")


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
