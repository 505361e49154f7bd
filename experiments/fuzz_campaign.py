"""A fuzzing campaign over the image reader and the save loader (issue 25): many thousands of inputs, made the way
tests/contracts/test_fuzzing.py makes them, each read in a worker process under a time and an address-space limit, so that a
crash, a hang or a memory blow is counted instead of ending the run.

The inputs (tests/fuzz_reader.py): random bytes after a format's magic number; real files (JPEG baseline,
progressive, gray and 4:4:4 with restarts, PNG 8/16-bit, gray and alpha, TIFF LZW/16-bit/float, WebP lossy and
lossless, BMP, and formats OpenCV decodes under any name) with header fields set to edge values, or truncated,
bit-flipped, overwritten; and byte-level damage to a real save's manifest, paths and arrays. Each image goes to
``read_file(path, 64)``, ``read_file(path, None)``, ``read_thumbnail(path, 64)`` and ``decode_image(bytes, 64)``;
each save to ``Pipeline.load`` and a query. With atheris installed, a last share of the time lets libFuzzer mutate
the image seeds, guided by the coverage of cae_sim's header parsing (run in this process; the decoding runs in the
worker as for the other inputs).

    pip install -e ".[fuzz]"   # optional: atheris, for the coverage-guided share
    python experiments/fuzz_campaign.py [--minutes 12] [--seed 0] [--no-atheris]

Prints a summary and writes experiments/results/fuzz_campaign.json: the examples run per kind and target, every
outcome counted (decoded or answered / ImageReadError / ValueError / OSError / unnamed error / wrong result / other
exception / crash / timeout / over memory), call times, and each non-clean finding grouped by what it said, with up
to three reproducers under experiments/results/fuzz_findings/ (emptied first).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULT = REPO / "experiments" / "results" / "fuzz_campaign.json"
FINDINGS = REPO / "experiments" / "results" / "fuzz_findings"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "experiments"))

try:
    import atheris
except ImportError:
    atheris = None
if atheris is not None:  # coverage of the header parsing guides libFuzzer: instrument it before anything imports it
    with atheris.instrument_imports(include=["cae_sim.images.headers"]):
        from cae_sim.images import headers

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from memory_mb import MB, bytes_to_mb  # noqa: E402  (benchlib's MB, 10**6 bytes, without loading TensorFlow)
from fuzz_reader import (CLEAN, IMAGE_KINDS, OUTCOMES, READER_TARGETS, SAVE_TARGET, Mutant, RandomDraw,  # noqa: E402
                         Worker, build_save, image_seeds, save_mutant)

#: Share of the time each kind of input gets (atheris' share goes to the others when it is not installed).
SHARES = {"random bytes": 0.15, "header edits": 0.25, "mutated files": 0.3, "damaged saves": 0.15, "atheris": 0.15}
#: Reproducers kept per finding.
KEEP = 3
MAGIC_EXTENSIONS = ((b"\xff\xd8", ".jpg"), (b"\x89PNG", ".png"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"),
                    (b"RIFF", ".webp"), (b"BM", ".bmp"))


class Campaign:
    """Runs inputs through the workers, counts outcomes, and keeps reproducers of each non-clean finding."""

    def __init__(self, work: Path, memory: int, timeout: float, seed: int) -> None:
        self.work, self.seed, self.rng = work, seed, random.Random(seed)
        self.reader = Worker("cae_sim.images.decoding", memory, timeout, work / "reader.log")
        self.loader = Worker("cae_sim", memory, 3 * timeout, work / "loader.log")
        self.examples: Counter = Counter()
        self.outcomes: dict[str, Counter] = defaultdict(Counter)  # target → outcome → count
        self.by_kind: dict[str, Counter] = defaultdict(Counter)  # kind → outcome → count
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.max_rss = 0
        self.findings: dict[tuple, dict] = {}

    def read(self, kind: str, mutant: Mutant) -> None:
        """Every reader target on one mutant."""
        self.examples[kind] += 1
        path = mutant.write(self.work)
        for target in READER_TARGETS:
            self._count(kind, target, self.reader.run(target, path), lambda folder, stem: mutant.write(folder, stem), mutant.recipe)

    def load(self, save: Path) -> None:
        """Damage a copy of ``save`` byte by byte, then load and query it."""
        self.examples["damaged saves"] += 1
        copy = self.work / "damaged-save"
        shutil.rmtree(copy, ignore_errors=True)
        recipe = save_mutant(save, copy, RandomDraw(self.rng))
        outcome = self.loader.run(SAVE_TARGET, copy)

        def keep(folder: Path, stem: str) -> Path:
            shutil.copytree(copy, folder / stem)
            return folder / stem

        self._count("damaged saves", SAVE_TARGET, outcome, keep, recipe)

    def _count(self, kind: str, target: str, outcome, keep, recipe: list[str]) -> None:
        self.outcomes[target][outcome.outcome] += 1
        self.by_kind[kind][outcome.outcome] += 1
        self.seconds[target].append(outcome.seconds)
        self.max_rss = max(self.max_rss, outcome.max_rss)
        if outcome.clean:
            return
        finding = self.findings.setdefault((outcome.outcome, _shape_of(outcome.detail)), {
            "number": len(self.findings) + 1, "outcome": outcome.outcome, "detail": outcome.detail, "count": 0, "targets": Counter(), "kinds": Counter(),
            "reproducers": []})
        finding["count"] += 1
        finding["targets"][target] += 1
        finding["kinds"][kind] += 1
        kept = finding["reproducers"]
        if len(kept) < KEEP and " | ".join(recipe) not in (reproducer["recipe"] for reproducer in kept):
            path = keep(FINDINGS, f"{finding['number']:03d}-{len(kept) + 1}").relative_to(REPO)
            kept.append({"path": str(path), "recipe": " | ".join(recipe), "command": _command(target, path)})

    def run_random(self, kind: str, seconds: float, save: Path | None) -> None:
        """Inputs of one kind, drawn from ``self.rng``, for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if kind == "damaged saves":
                self.load(save)
            else:
                self.read(kind, IMAGE_KINDS[kind](RandomDraw(self.rng)))

    def summary(self, started: float, args: argparse.Namespace, atheris_runs: int) -> dict:
        findings = sorted(self.findings.values(), key=lambda finding: -finding["count"])
        return {
            "command": shlex.join(["python", *sys.argv]), "options": vars(args), "machine": _machine(),
            "wall_seconds": round(time.monotonic() - started, 1),
            "atheris": None if atheris is None else {"version": _atheris_version(), "runs": atheris_runs},
            "limits": {"address_space_bytes": args.memory_mb * MB, "call_timeout_seconds": args.timeout,
                       "save_call_timeout_seconds": 3 * args.timeout},
            "seeds": [seed.name for seed in image_seeds()],
            "examples": dict(self.examples), "calls": sum(sum(counts.values()) for counts in self.outcomes.values()),
            "outcomes_by_target": {target: _ordered(counts) for target, counts in self.outcomes.items()},
            "outcomes_by_kind": {kind: _ordered(counts) for kind, counts in self.by_kind.items()},
            "call_seconds": {target: {"mean": float(np.mean(times)), "max": float(np.max(times))}
                             for target, times in self.seconds.items()},
            "worker_peak_rss_bytes": self.max_rss,
            "worker_starts": {"reader": self.reader.starts, "loader": self.loader.starts},
            "findings": [finding | {"targets": dict(finding["targets"]), "kinds": dict(finding["kinds"])} for finding in findings],
        }

    def close(self) -> None:
        self.reader.close()
        self.loader.close()


def _shape_of(detail: str) -> str:
    """A finding's message without what varies between inputs: paths and numbers."""
    return re.sub(r"\d+", "N", re.sub(r"'?/[^\s:']+'?", "<path>", detail))[:300]


def _command(target: str, path: Path) -> str:
    """A one-line reproducer, run from the repository's root."""
    if target == SAVE_TARGET:
        code = (f"import numpy as np; from cae_sim import Pipeline; p = Pipeline.load({str(path)!r}); p.duplicates(); "
                "p.query(np.zeros((16, 16, 3), np.uint8), n=3)")
    elif target == "decode_image 64":
        code = f"from cae_sim.images.decoding import decode_image; decode_image(open({str(path)!r}, 'rb').read(), 64, {str(path)!r})"
    else:
        function, size = target.split()
        code = f"from cae_sim.images.decoding import {function}; {function}({str(path)!r}, {size})"
    return f"python -c {shlex.quote(code)}"


def _ordered(counts: Counter) -> dict[str, int]:
    return {outcome: counts[outcome] for outcome in OUTCOMES if counts[outcome]}


def _machine() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"cpus_usable": len(os.sched_getaffinity(0)), "python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "commit": git("rev-parse", "HEAD"),
            "uncommitted_cae_sim_files": git("status", "--porcelain", "cae_sim").splitlines()}


def _atheris_version() -> str:
    from importlib.metadata import version

    return version("atheris")


def run_atheris(campaign: Campaign, seconds: float, finish) -> None:
    """Let libFuzzer mutate the image seeds for ``seconds``, then call ``finish(runs)`` and leave the process.

    libFuzzer never returns to the caller, so the summary is written from inside the last run.
    """
    corpus = campaign.work / "corpus"
    corpus.mkdir()
    for seed in image_seeds():
        (corpus / hashlib.sha1(seed.data).hexdigest()).write_bytes(seed.data)
    end, runs = time.monotonic() + seconds, 0

    def one_input(data: bytes) -> None:
        nonlocal runs
        if time.monotonic() >= end:
            finish(runs)
            os._exit(0)
        runs += 1
        with contextlib.suppress(Exception):  # the coverage that guides libFuzzer; the worker meets any error
            headers.image_dimensions(data)
        extension = next((extension for magic, extension in MAGIC_EXTENSIONS if data.startswith(magic)), ".png")
        campaign.read("atheris", Mutant(extension, data, [f"libFuzzer input of {len(data)} bytes, sha1 {hashlib.sha1(data).hexdigest()}"]))

    log = open(campaign.work / "libfuzzer.log", "w")
    os.dup2(log.fileno(), 2)  # libFuzzer's progress lines
    atheris.Setup([sys.argv[0], "-max_len=65536", "-timeout=600", "-rss_limit_mb=0", f"-seed={campaign.seed + 1}", str(corpus)],
                  one_input)
    atheris.Fuzz()


def print_summary(summary: dict) -> None:
    print(f"\n{summary['calls']:,} calls on {sum(summary['examples'].values()):,} inputs in {summary['wall_seconds']:.0f} s: "
          + ", ".join(f"{kind} {count:,}" for kind, count in summary["examples"].items()))
    for target, counts in summary["outcomes_by_target"].items():
        seconds = summary["call_seconds"][target]
        print(f"  {target:18s} " + ", ".join(f"{outcome} {count:,}" for outcome, count in counts.items())
              + f"   (mean {1000 * seconds['mean']:.1f} ms, max {seconds['max']:.2f} s)")
    print(f"worker peak RSS {bytes_to_mb(summary['worker_peak_rss_bytes']):.0f} MB; worker starts {summary['worker_starts']}")
    print(f"{len(summary['findings'])} findings (non-clean outcomes, grouped by message):")
    for finding in summary["findings"]:
        print(f"  {finding['count']:6,} calls ({', '.join(finding['targets'])}): {finding['outcome']}: {finding['detail'][:160]}")
        print(f"           e.g. {finding['reproducers'][0]['recipe'][:160]}")
        print(f"           {finding['reproducers'][0]['command']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="wall time of the whole campaign")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-mb", type=int, default=1611,
                        help="address-space limit of each worker, in MB (10**6 bytes; 1,611 MB is the former 1,536 MiB)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a read may take (a save's load: 3×)")
    parser.add_argument("--no-atheris", action="store_true", help="leave libFuzzer out even where atheris is installed")
    args = parser.parse_args()
    started = time.monotonic()
    shutil.rmtree(FINDINGS, ignore_errors=True)
    FINDINGS.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="fuzz-campaign-"))
    campaign = Campaign(work, args.memory_mb * MB, args.timeout, args.seed)
    use_atheris = atheris is not None and not args.no_atheris
    shares = {kind: share for kind, share in SHARES.items() if kind != "atheris" or use_atheris}
    budget = 60 * args.minutes - (time.monotonic() - started)
    save = build_save(work / "original")

    def finish(atheris_runs: int) -> None:
        campaign.close()
        summary = campaign.summary(started, args, atheris_runs)
        RESULT.write_text(json.dumps(summary, indent=2) + "\n")
        print_summary(summary)
        print(f"wrote {RESULT.relative_to(REPO)}; reproducers under {FINDINGS.relative_to(REPO)}/", flush=True)
        shutil.rmtree(work, ignore_errors=True)

    for kind, share in shares.items():
        if kind != "atheris":
            seconds = budget * share / sum(shares.values())
            print(f"{kind}: {seconds:.0f} s", flush=True)
            campaign.run_random(kind, seconds, save)
    if use_atheris:
        print(f"atheris: the rest of the time ({60 * args.minutes - (time.monotonic() - started):.0f} s)", flush=True)
        run_atheris(campaign, 60 * args.minutes - (time.monotonic() - started), finish)
    finish(0)


if __name__ == "__main__":
    main()
