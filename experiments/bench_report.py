"""The HTML report of a large collection: how long it takes to write, and to open in a real browser.

A pipeline is fitted on N generated JPEGs (default 10,000, made from the photos of ``data/``) with the default
encoder, and its report written; then headless Chromium (Debian's ``chromium``, driven by Playwright) opens it
several times. In the same run and the same browser, a one-line page in the same folder is opened as the
baseline: what any page costs the browser. The target: the report is usable (its script has drawn the map)
in under 3 s.

Each opening reports the time from the start of navigation to the browser's ``DOMContentLoaded`` and ``load``
events and to the report's ``report-ready`` performance mark (its script has run and drawn the map; the baseline
has no script, so its load event stands in), as the page's own timeline sees them, and the wall time of the
whole ``goto`` seen from Python; then the time from a click on a map point to its open panel.

Run: ``python experiments/bench_report.py`` (``--n 1000`` for a quick run); needs ``chromium`` on PATH.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import benchlib
from cae_sim import tune_malloc
from cae_sim.report import write_report

TARGET_S = 3.0
BASELINE_PAGE = "baseline.html"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="JPEGs in the collection (default 10000)")
    parser.add_argument("--size", type=int, default=256, help="side of the JPEGs in px (default 256)")
    parser.add_argument("--clusters", type=int, default=20, help="clusters (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="openings of each page (default 5)")
    return parser.parse_args()


def open_times(browser, url: str, ready: str) -> dict:
    """Open ``url`` in a new page; return its navigation milestones and the wall time, in seconds."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    started = time.perf_counter()
    page.goto(url, wait_until="load")
    page.wait_for_function(ready)
    wall = time.perf_counter() - started
    timing = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " const ready = performance.getEntriesByName('report-ready')[0];"
        " return {dom: n.domContentLoadedEventEnd, load: n.loadEventEnd, ready: ready ? ready.startTime : n.loadEventEnd}; })()"
    )
    return {"page": page, "wall_s": wall, **{f"{name}_s": value / 1000 for name, value in timing.items()}}


def click_time(page) -> float:
    """Seconds from a click on the first image's point of the map to its panel being shown."""
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate("caeSimReport.screenPointOf(0)")
    started = time.perf_counter()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#panel:not([hidden])")
    return time.perf_counter() - started


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 3)


def main() -> None:
    from playwright.sync_api import sync_playwright

    args = parse_args()
    tune_malloc()  # as the cae_sim commands do
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium on PATH: apt-get install chromium")
    folder = benchlib.make_jpeg_folder(args.n, args.size)
    pipeline, fit_s, _ = benchlib.fit_pipeline(folder, n_clusters=args.clusters, random_state=0)
    out = Path(tempfile.mkdtemp(prefix="cae_sim-report-")) / "report"
    started = time.perf_counter()
    page_path = write_report(pipeline, out)
    write_s = time.perf_counter() - started
    (out / BASELINE_PAGE).write_text('<!DOCTYPE html><html lang="en"><title>x</title><p id="x">x</p></html>')
    sizes = {"index_html_mb": benchlib.bytes_to_mb(page_path.stat().st_size),
             "thumbnails_mb": benchlib.bytes_to_mb(sum(p.stat().st_size for p in (out / "thumbs").iterdir()))}

    report_runs, baseline_runs = [], []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(args.repeats):
            baseline = open_times(browser, (out / BASELINE_PAGE).as_uri(), "document.getElementById('x') !== null")
            baseline["page"].close()
            baseline_runs.append(baseline)
            report = open_times(browser, page_path.as_uri(), "window.caeSimReport && window.caeSimReport.ready")
            report["click_s"] = click_time(report["page"])
            report["page"].close()
            report_runs.append(report)
        browser.close()
    shutil.rmtree(out.parent)

    keys = ("dom_s", "load_s", "ready_s", "wall_s")
    results = {
        "images": len(pipeline.paths_), "clusters": args.clusters, "encoder": pipeline.encoder_choice_,
        "fit_s": round(fit_s, 1), "write_report_s": round(write_s, 1), **{k: round(v, 2) for k, v in sizes.items()},
        "report_median": {key: median_of(report_runs, key) for key in (*keys, "click_s")},
        "baseline_median": {key: median_of(baseline_runs, key) for key in keys},
        "target_s": TARGET_S,
    }
    print(f"{results['images']} images, {args.clusters} clusters, {results['encoder']}")
    print(f"fit {results['fit_s']} s; report written in {results['write_report_s']} s: "
          f"index.html {sizes['index_html_mb']:.2f} MB, thumbnails {sizes['thumbnails_mb']:.1f} MB")
    print(f"medians of {args.repeats} openings (s)   DOMContentLoaded   load   ready   wall (goto + ready)")
    for name, runs in (("report", report_runs), ("one-line page", baseline_runs)):
        print(f"{name:35s} {median_of(runs, 'dom_s'):10.3f} {median_of(runs, 'load_s'):9.3f} "
              f"{median_of(runs, 'ready_s'):7.3f} {median_of(runs, 'wall_s'):8.3f}")
    print(f"click on a map point to its panel: {results['report_median']['click_s']:.3f} s (median)")
    print(f"target: ready in under {TARGET_S} s -> {'met' if results['report_median']['ready_s'] < TARGET_S else 'NOT met'}")
    benchlib.write_results("bench_report", args, results=results)


if __name__ == "__main__":
    main()
