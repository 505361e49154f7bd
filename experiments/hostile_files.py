"""Issue 25's before/after measurement: each hostile file of ``tests/hostile.py`` through a checkout's command line.

For a clean baseline and for each case, a folder holds the six good photos and that one file; ``python -m cae_sim
train`` runs on it in a child process, killed after ``--timeout`` seconds. Then ``query`` looks up the FIFO in the
clean save, and ``query --format text|csv``, ``duplicates`` and ``report`` run on the save that holds the name that
is not UTF-8. Every command runs with ``PYTHONIOENCODING=utf-8:strict`` and the default reading limits, on the code of
``--repo`` with this interpreter; each records its status, wall time, peak RSS and first error line, a fit what it
skipped and kept (read from its save, else from its summary), and an output whether it holds the odd name as its
exact bytes or with visible escapes. Results go to ``experiments/results/hostile_files.json`` under ``--label``
(other labels are kept), and print as markdown tables::

    git worktree add /tmp/hostile-before HEAD
    python experiments/hostile_files.py --label before --repo /tmp/hostile-before
    python experiments/hostile_files.py --label after
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from hostile import CASES, GOOD_IMAGES, NON_UTF8_NAME, ChildRun, build_folder, command_env, run_child  # noqa: E402

RESULTS = REPO / "experiments" / "results" / "hostile_files.json"
#: Run in the measured checkout: what a save kept and skipped, as ASCII JSON (odd names as surrogate escapes).
READ_SAVE = ("import json, sys; from cae_sim import Pipeline; p = Pipeline.load(sys.argv[1]); "
             "print(json.dumps({'kept': len(p.paths_), 'skipped': p.skipped_}))")
#: The last line of a traceback, or a line the command line prints for an error.
ERROR_LINE = re.compile(r"^(error: |[\w.]*(Error|Exception|error)\b)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--label", required=True, help="key of this run in the results file, e.g. before or after")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose cae_sim runs (default: this one)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hostile-files"), help="folder for the folders and saves")
    parser.add_argument("--timeout", type=float, default=150, help="seconds before a command is killed (default: 150)")
    args = parser.parse_args()
    work = args.work / args.label
    shutil.rmtree(work, ignore_errors=True)
    runner = Runner(args.repo.resolve(), args.timeout)
    fits = {case: runner.fit(work / case, args.work / "cache", cases) for case, cases in
            [("clean", ()), *((case, (case,)) for case in CASES)]}
    odd_save = work / "non_utf8_name" / "save"
    good, odd = work / "non_utf8_name" / "images" / GOOD_IMAGES[0], work / "non_utf8_name" / "images" / NON_UTF8_NAME
    commands = {
        "query FIFO": runner.command(["query", work / "clean" / "save", work / "fifo" / "images" / "a.jpg"]),
        "query --format text": runner.command(["query", odd_save, good, "--format", "text"], odd),
        "query --format csv": runner.command(["query", odd_save, good, "--format", "csv"], odd),
        "duplicates": runner.command(["duplicates", odd_save], odd),
        "duplicates --out": runner.command(["duplicates", odd_save, "--out", work / "duplicates.csv"], odd,
                                           work / "duplicates.csv"),
        "report": runner.command(["report", odd_save, "--out", work / "report", "--quiet"], odd,
                                 work / "report" / "index.html"),
    }
    entry = {**source(args.repo), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()},
             "timeout_s": args.timeout, "fits": fits, "commands": commands}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**results, args.label: entry}, indent=2) + "\n")
    print("\n".join(tables(args.label, entry)))


class Runner:
    """Runs ``python -m cae_sim`` of ``repo`` in measured child processes, killed after ``timeout`` seconds."""

    def __init__(self, repo: Path, timeout: float) -> None:
        self.repo, self.timeout, self.env = repo, timeout, command_env(repo)

    def run(self, args: list) -> ChildRun:
        """Run this interpreter with ``args`` (paths allowed) on the checkout's code."""
        return run_child([sys.executable, *map(os.fspath, args)], self.env, self.timeout, cwd=self.repo)

    def fit(self, root: Path, cache: Path, cases: tuple[str, ...]) -> dict:
        """Train on the good images and ``cases``' files in ``root/images``; what happened, and what was skipped."""
        hostile = build_folder(root / "images", cache, cases)
        run = self.run(["-m", "cae_sim", "train", hostile.folder, "--out", root / "save"])
        kept, skipped = self.read_save(root / "save") if (root / "save").is_dir() else (None, None)
        if skipped is None:
            skipped = summary_skips(run.stdout.decode("utf-8", "surrogateescape"))
        added = [shown(name) for name in [*hostile.good, *hostile.bad] if name not in GOOD_IMAGES]
        return {"added": added, **measures(run), "kept": kept,
                "skipped": [[shown(os.path.relpath(path, hostile.folder)), reason] for path, reason in skipped]}

    def read_save(self, save: Path) -> tuple[int | None, list | None]:
        """How many images the save at ``save`` kept, and its skipped files; Nones when it does not load."""
        run = self.run(["-c", READ_SAVE, save])
        if run.returncode != 0:
            return None, None
        read = json.loads(run.stdout)
        return read["kept"], read["skipped"]

    def command(self, args: list, named: Path | None = None, written: Path | None = None) -> dict:
        """Run ``cae_sim ARGS``; with ``named``, say how its output (stdout, or the file ``written``) holds that path."""
        run = self.run(["-m", "cae_sim", *args])
        result = measures(run)
        if named is not None:
            data = run.stdout if written is None else written.read_bytes() if written.is_file() else b""
            result["name_in_output"] = name_form(os.fsencode(named), data)
        return result


def measures(run: ChildRun) -> dict:
    """What every command records: status, time, memory and its first error line."""
    return {"status": run.returncode, "timed_out": run.timed_out, "seconds": round(run.seconds, 1),
            "peak_rss_mb": None if run.peak_rss_mb is None else round(run.peak_rss_mb), "error": first_error(run.stderr.decode("utf-8", "backslashreplace"))}


def first_error(stderr: str) -> str:
    """The first line of ``stderr`` that reports an error (``error: ...`` or a traceback's last line), else ""."""
    return next((line for line in stderr.splitlines() if ERROR_LINE.match(line)), "")


def summary_skips(stdout: str) -> list[tuple[str, str]]:
    """The ``  PATH: REASON`` lines under ``skipped:`` in train's summary."""
    lines = stdout.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("skipped:")), len(lines))
    skips = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        path, _, reason = line.strip().partition(": ")
        skips.append((path, reason))
    return skips


def name_form(name: bytes, data: bytes) -> str:
    """How ``data`` holds the file name ``name``: "exact bytes", "escaped" (``\\xff``) or "absent"."""
    if name in data:
        return "exact bytes"
    return "escaped" if name.decode("utf-8", "backslashreplace").encode() in data else "absent"


def shown(name: str) -> str:
    """``name`` as readable text: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def source(repo: Path) -> dict:
    """The commit of ``repo`` and the files of its cae_sim/ changed since."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True).stdout.strip()

    return {"repo": str(repo), "commit": git("rev-parse", "HEAD"),
            "uncommitted_cae_sim_files": git("status", "--porcelain", "cae_sim").splitlines()}


def tables(label: str, entry: dict) -> list[str]:
    """The markdown tables of one label's results: the fits, then the other commands."""
    def outcome(result: dict) -> str:
        return f"killed after {entry['timeout_s']:.0f} s" if result["timed_out"] else f"exit {result['status']}"

    lines = [f"### {label}: commit {entry['commit'][:10]}", "",
             "| case (good images + its file) | ends | time (s) | peak RSS (MB) | kept | skipped | first error |",
             "|---|---|---:|---:|---:|---|---|"]
    for case, fit in entry["fits"].items():
        skipped = "; ".join(f"`{name}`: {reason}" for name, reason in fit["skipped"]) or "nothing"
        kept = "no save" if fit["kept"] is None else fit["kept"]
        lines.append(f"| {case} | {outcome(fit)} | {fit['seconds']} | {fit['peak_rss_mb']} | {kept} | {skipped} | "
                     f"{cell(fit['error'])} |")
    lines += ["", "| command | ends | time (s) | peak RSS (MB) | odd name in output | first error |",
              "|---|---|---:|---:|---|---|"]
    for name, result in entry["commands"].items():
        lines.append(f"| {name} | {outcome(result)} | {result['seconds']} | {result['peak_rss_mb']} | "
                     f"{result.get('name_in_output', '')} | {cell(result['error'])} |")
    return lines


def cell(text: str, width: int = 90) -> str:
    """``text`` fit for a table cell: pipes escaped, cut to ``width`` characters."""
    text = text.replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    main()
