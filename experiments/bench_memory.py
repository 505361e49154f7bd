"""Peak memory (RSS) of the process while a pipeline is fitted on a large JPEG folder.

Target: fitting 20,000 images at 64 × 64 keeps the process under 1.5 GB.

The resident set is sampled from /proc/self/status in a thread during the fit
(VmRSS, split into anonymous memory, file pages and shared memory: the uint8
image cache of ``fit`` is a memory-mapped file, so its pages count as file
pages), and checked against ``resource.getrusage``'s lifetime peak. The peak
of each phase of the fit is reported too.

Run: ``python experiments/bench_memory.py`` (``--n 2000`` for a quick run).
"""

from __future__ import annotations

import argparse
import threading
import time

import benchlib  # imports cae_sim, hence TensorFlow, before the baseline is taken
import tensorflow  # noqa: F401  (explicit: the baseline is measured after importing it)
from cae_sim import tune_malloc

RSS_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
TARGET_MB = 1500


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="number of JPEGs (default 20000)")
    parser.add_argument("--source-size", type=int, default=128, help="side of the JPEGs in px (default 128)")
    parser.add_argument("--image-size", type=int, default=64, help="side the CAE works at (default 64)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between RSS samples (default 0.02)")
    parser.add_argument("--batch-size", type=int, default=None, help="training batch (default: the autoencoder's own)")
    parser.add_argument("--encoder", default="cae", help="encoder (default cae: the target is set for the autoencoder)")
    parser.add_argument("--clustering", default="auto", help="clustering (default auto: manifold for the autoencoder's 20,000 codes)")
    return parser.parse_args()


def rss_mb() -> dict:
    """Resident memory of this process now, ``RSS_FIELDS``, in MB (10**6 bytes), from /proc/self/status."""
    return benchlib.proc_status_mb(*RSS_FIELDS)


max_rss_mb = benchlib.max_rss_mb


class RssSampler(threading.Thread):
    """Samples ``rss_mb()`` every ``interval`` seconds until stopped; keeps (time, sample) pairs."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval, self.samples, self.stopped = interval, [], threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.perf_counter(), rss_mb()))
            self.stopped.wait(self.interval)

    def stop(self) -> list[tuple[float, dict]]:
        self.stopped.set()
        self.join()
        self.samples.append((time.perf_counter(), rss_mb()))
        return self.samples


def peak(samples: list[tuple[float, dict]]) -> dict:
    """The sample of highest VmRSS, with the highest of each field on its own."""
    top = max(samples, key=lambda sample: sample[1]["VmRSS"])[1]
    return {"at_peak_vmrss": top, "max_of_each_field": {f: max(s[f] for _, s in samples) for f in RSS_FIELDS}}


def phase_peaks(samples: list[tuple[float, dict]], intervals: dict) -> dict:
    """Highest VmRSS sampled during each phase of the fit, and how long the phase took."""
    out = {}
    for name, spans in intervals.items():
        inside = [s["VmRSS"] for t, s in samples if any(start <= t <= end for start, end in spans)]
        out[name] = {"seconds": sum(end - start for start, end in spans), "peak_vmrss_mb": max(inside, default=None)}
    return out


def main() -> None:
    args = parse_args()
    baseline = rss_mb()
    folder = benchlib.make_jpeg_folder(args.n, args.source_size)
    print(f"{args.n} JPEGs of {args.source_size} px in {folder}")
    print(
        f"baseline after importing tensorflow and cae_sim: VmRSS {baseline['VmRSS']:.0f} MB "
        f"(anon {baseline['RssAnon']:.0f}, file {baseline['RssFile']:.0f})"
    )
    before_fit = {"rss": rss_mb(), "ru_maxrss_mb": max_rss_mb()}

    sampler = RssSampler(args.interval)
    sampler.start()
    _, fit_seconds, intervals = benchlib.fit_pipeline(
        folder, encoder=args.encoder, clustering=args.clustering, image_size=args.image_size, batch_size=args.batch_size,
        epochs=1, n_clusters=10, random_state=0,
    )
    samples = sampler.stop()

    during = peak(samples)
    peak_mb = max(during["at_peak_vmrss"]["VmRSS"], max_rss_mb())
    results = {
        "folder": benchlib.folder_info(folder),
        "fit_seconds": fit_seconds,
        "baseline_after_import_mb": baseline,
        "before_fit": before_fit,
        "peak_during_fit_sampled_mb": during,
        "ru_maxrss_after_fit_mb": max_rss_mb(),
        "peak_rss_mb": peak_mb,
        "peak_minus_baseline_mb": peak_mb - baseline["VmRSS"],
        "phases": phase_peaks(samples, intervals),
        "n_samples": len(samples),
        "target_mb": TARGET_MB,
        "under_target": peak_mb < TARGET_MB,
    }
    top = during["at_peak_vmrss"]
    print(f"fit: {fit_seconds:.1f} s, {len(samples)} RSS samples")
    print(
        f"peak VmRSS sampled during fit: {top['VmRSS']:.0f} MB "
        f"(anon {top['RssAnon']:.0f}, file {top['RssFile']:.0f}, shmem {top['RssShmem']:.0f})"
    )
    print(f"ru_maxrss (lifetime peak): {results['ru_maxrss_after_fit_mb']:.0f} MB")
    print(f"peak - baseline: {results['peak_minus_baseline_mb']:.0f} MB")
    for name, phase in results["phases"].items():
        print(f"  {name:20s} {phase['seconds']:7.2f} s  peak VmRSS {phase['peak_vmrss_mb'] or float('nan'):.0f} MB")
    print(f"peak {peak_mb:.0f} MB {'<' if results['under_target'] else '>='} target {TARGET_MB} MB")
    print(f"wrote {benchlib.write_results('bench_memory', args, results=results)}")


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
