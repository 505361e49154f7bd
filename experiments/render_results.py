"""Render the generated tables of docs/results.md, docs/benchmarks.md and docs/collections.md from experiments/results/*.json.

    python experiments/render_results.py           # rewrites every generated block of the pages
    python experiments/render_results.py --check   # exit 1, changing nothing, if a page is not what it renders to

A page holds hand-written text around blocks ``<!-- generated: NAME -->`` ... ``<!-- end generated -->``; each
block's text is ``BLOCKS[NAME]()``, rendered from the results files alone, so running this twice changes nothing.
A block whose results file is missing says so in one line instead of a table.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
PAGES = (ROOT / "docs" / "results.md", ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "collections.md")
BLOCK = re.compile(r"(<!-- generated: ([a-z0-9_]+) -->\n)(.*?)(<!-- end generated -->)", re.DOTALL)
EXPERIMENTS = {
    "mnist_clustering": "MNIST (`python experiments/mnist_clustering.py`)",
    "digits_clustering": "scikit-learn digits, 1,797 8×8 images (`python experiments/digits_clustering.py`)",
    "fashion_mnist_clustering": "Fashion-MNIST, 28×28 gray (`python experiments/fashion_mnist_clustering.py`)",
    "dogs_cats_clustering": "CIFAR-10 cats and dogs, 2,000 32×32 colour images (`python experiments/dogs_cats_clustering.py`)",
    "food_clustering": "Food photos, 542 in 20 food groups, 307×173 colour (`python experiments/food_clustering.py`)",
}


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def missing(name: str) -> str:
    return f"*No table: `experiments/results/{name}.json` is not committed (`python experiments/{name}.py` writes it).*\n"


def from_file(name: str, render_results: Callable[[dict], str]) -> Callable[[], str]:
    """A block rendered by ``render_results`` from ``experiments/results/NAME.json``, or a line saying it is missing."""

    def block() -> str:
        results = load(name)
        return missing(name) if results is None else render_results(results)

    return block


def rows_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def table(results: dict) -> list[str]:
    """Markdown rows of one clustering experiment: measured methods first, then published ones."""
    lines = ["| method | split | ACC | NMI | ARI | seconds |", "|---|---|---|---|---|---|"]
    for row in results["measured"]:
        lines.append(f"| {row['method']} | {row['split']} | {row['acc']:.3f} | {row['nmi']:.3f} | {row['ari']:.3f} | {row['seconds']:.0f} |")
    for row in results.get("published", []):
        lines.append(f"| {row['method']} (published: {row['source']}) | full | {row['acc']:.3f} | | | |")
    return lines


def render() -> str:
    """The clustering tables, one per experiment that has results."""
    parts = []
    for name, title in EXPERIMENTS.items():
        results = load(name)
        if results is None:
            parts += [f"**{title}**", "", missing(name)]
        else:
            parts += [f"**{title}**", "", *table(results), ""]
    return "\n".join(parts)


# --- results -------------------------------------------------------------------------------------------------------


def render_copy_matching(results: dict) -> str:
    data = results["results"]
    kinds = data["degradations"]
    header = ["method", "Top-1", "Top-5", "Top-15", "fit s", *[kind.replace("_", " ") for kind in kinds]]
    rows = [
        [f"`{name}`", f"{row['top1']:.3f}", f"{row['top5']:.3f}", f"{row['top15']:.3f}", f"{row['fit_seconds']:.0f}",
         *[f"{row['top1_by_degradation'][kind]:.2f}" for kind in kinds]]
        for name, row in data["rows"].items()
    ]
    intro = (f"{data['n_originals']} originals, {data['n_distractors']} distractors, {data['n_targets']} copies to "
             f"match; Top-1 per degradation in the last columns.\n\n")
    return intro + rows_table(header, rows)


def render_near_duplicates(results: dict) -> str:
    header = ["collection", "encoder", "fixed: threshold, precision / recall", "calibrated: threshold, precision / recall",
              "best F1 (its threshold)"]
    rows = []
    for collection, encoders in results["defaults"].items():
        setup = results["setup"]["collections"][collection]
        label = f"{collection} ({setup['n_images']} images, {setup['n_copied']} originals with copies)"
        for encoder, found in encoders.items():
            fixed, calibrated = found["fixed"], found.get("calibrated")
            best = results["best_f1"][collection][encoder]
            rows.append([label if encoder == next(iter(encoders)) else "", f"`{encoder}`",
                         f"{fixed['threshold']:.2f}: {fixed['precision']:.3f} / {fixed['recall']:.3f}",
                         f"{calibrated['threshold']:.3f}: {calibrated['precision']:.3f} / {calibrated['recall']:.3f}" if calibrated else "",
                         f"{best['f1']:.3f} ({best['threshold']:g})"])
    return rows_table(header, rows)


def render_cae_augment_ablation(results: dict) -> str:
    splits = list(dict.fromkeys(row["split"] for row in results["measured"]))
    acc = {(row["method"], row["split"]): row["acc"] for row in results["measured"]}
    methods = list(dict.fromkeys(row["method"] for row in results["measured"]))
    rows = [[method, *[f"{acc[method, split]:.3f}" if (method, split) in acc else "" for split in splits]] for method in methods]
    return rows_table(["encoder (ACC)", *splits], rows)


def render_small_gray_features(results: dict) -> str:
    rows = [[row["method"], f"{row['acc']:.3f}", f"{row['nmi']:.3f}", f"{row['ari']:.3f}", f"{row['seconds']:.0f}"]
            for row in results["results"]]
    return rows_table(["features, clustering", "ACC", "NMI", "ARI", "seconds"], rows)


def render_copy_detection(results: dict) -> str:
    data = results["results"]
    kinds = data["degradations"]
    rows = [[f"`{name}`", f"{scores['overall']['top1']:.2f} / {scores['overall']['top5']:.2f}",
             *[f"{scores[kind]['top1']:.2f}" for kind in kinds]] for name, scores in data["accuracy"].items()]
    intro = f"{len(data['index'])} photos in the index, {data['n_queries']} degraded copies as queries.\n\n"
    return intro + rows_table(["encoder", "top-1 / top-5", *[kind.replace("_", " ") for kind in kinds]], rows)


def _row(name: str, method: str, split: str | None = None) -> dict | None:
    """One measured row of a clustering results file (or of small_gray_features' list), None if missing."""
    results = load(name)
    if results is None:
        return None
    rows = results.get("measured") or results.get("results") or []
    return next((row for row in rows if row["method"] == method and split in (None, row.get("split"))), None)


def _acc(*cells) -> str:
    """ACC of each (file, method, split) cell joined by " / ", "—" where a row is missing."""
    found = [_row(*cell) for cell in cells]
    return " / ".join("—" if row is None else f"{row['acc']:.3f}" for row in found)


FORMER_DEFAULT = [  # data set, raw pixels, the former default's encoder and row, Lite0 + K-Means
    ("scikit-learn digits (1,797, 8 px gray)", ("digits_clustering", "K-Means on raw pixels", "all"),
     "cae", ("digits_clustering", "cae_sim default", "all"), ("digits_clustering", "efficientnet_lite0 + K-Means", "all")),
    ("MNIST full (70,000, 28 px gray)", ("mnist_clustering", "K-Means on raw pixels", "full"),
     "cae", ("mnist_clustering", "cae_sim default", "full"), ("mnist_clustering", "efficientnet_lite0 + K-Means", "test")),
    ("Fashion-MNIST full (70,000, 28 px gray)", ("fashion_mnist_clustering", "K-Means on raw pixels", "full"),
     "efficientnet_lite0 class scores at 160 px, UMAP + GMM", ("fashion_mnist_clustering", "cae_sim default", "full"),
     ("fashion_mnist_clustering", "efficientnet_lite0 + K-Means", "test")),
    ("CIFAR-10 cats and dogs (2,000, 32 px colour)", ("dogs_cats_clustering", "K-Means on raw pixels", "all"),
     "efficientnet_lite2 class scores", ("dogs_cats_clustering", "cae_sim default", "all"),
     ("dogs_cats_clustering", "efficientnet_lite0 + K-Means", "all")),
    ("food photos (542 in 20 uneven food groups, 307×173 colour)", ("food_clustering", "K-Means on raw pixels", "all"),
     "efficientnet_lite2 class scores", ("food_clustering", "cae_sim default", "all"),
     ("food_clustering", "efficientnet_lite0 + K-Means", "all")),
]


def render_former_default() -> str:
    """The former default's rows of each clustering experiment beside raw pixels and Lite0 + K-Means."""

    def cell(row: dict | None, split: str | None = None) -> str:
        if row is None:
            return "—"
        where = f" ({row['split']} split)" if split and row["split"] != split else ""
        return f"{row['acc']:.3f}{where}, {row['seconds']:.0f} s; NMI {row['nmi']:.3f}, ARI {row['ari']:.3f}"

    rows = []
    for label, raw, encoder, former, lite0 in FORMER_DEFAULT:
        found = _row(*former)
        rows.append([label, _acc(raw), "—" if found is None else f"**{cell(found)}** ({encoder})",
                     cell(_row(*lite0), former[2])])
    return rows_table(["data set", "raw pixels", "former default (the encoder the former `\"auto\"` rule picked)",
                       "`efficientnet_lite0` + K-Means (the default now)"], rows)


FMNIST, CATS, FOOD = "fashion_mnist_clustering", "dogs_cats_clustering", "food_clustering"
CONTRASTIVE, MAPS = "contrastive head on efficientnet_lite0", "autoencoder on efficientnet_lite0's feature maps"
LEARNED = [  # label, then the cells of Fashion-MNIST test, CIFAR cats and dogs, food photos
    ("raw pixels, K-Means", [(FMNIST, "K-Means on raw pixels", "test")], [(CATS, "K-Means on raw pixels", "all")],
     [(FOOD, "K-Means on raw pixels", "all")]),
    ("Lite0 pooled features, K-Means / UMAP + GMM",
     [(FMNIST, "efficientnet_lite0 at 160 px + K-Means", "test"), (FMNIST, "efficientnet_lite0 + UMAP + GMM", "test")],
     [(CATS, "efficientnet_lite0 + K-Means", "all"), (CATS, "efficientnet_lite0 + UMAP + GMM", "all")],
     [(FOOD, "efficientnet_lite0 + K-Means", "all"), (FOOD, "efficientnet_lite0 + UMAP + GMM", "all")]),
    ("the autoencoder on pixels, plain / augmented (DEC-DA's mild geometric / SimCLR's)",
     [(FMNIST, "autoencoder (encoder='cae')", "test")],
     [(CATS, "autoencoder (encoder='cae')", "all"), ("cae_augment_ablation", "cae, augment mild geometric", "dogs_cats"),
      ("cae_augment_ablation", "cae, augment simclr", "dogs_cats")],
     [(FOOD, "autoencoder (encoder='cae')", "all")]),
    ("NT-Xent head on the pooled features (4 SimCLR views, 100 epochs), K-Means / UMAP + GMM",
     [(FMNIST, f"{CONTRASTIVE} at 160 px + K-Means", "test"), (FMNIST, f"{CONTRASTIVE} at 160 px + UMAP + GMM", "test")],
     [(CATS, f"{CONTRASTIVE} + K-Means", "all"), (CATS, f"{CONTRASTIVE} + UMAP + GMM", "all")],
     [(FOOD, f"{CONTRASTIVE} + K-Means", "all"), (FOOD, f"{CONTRASTIVE} + UMAP + GMM", "all")]),
    ("SCAN-style head on neighbours (Fashion-MNIST: all 70,000)", [("small_gray_features", "Lite0 pool, SCAN head", None)],
     [], []),
    ("autoencoder on Lite0's last feature maps, experiment's first version, K-Means / UMAP + GMM",
     [(FMNIST, f"{MAPS} at 160 px, first version (commit fae7757) + K-Means", "test"),
      (FMNIST, f"{MAPS} at 160 px, first version (commit fae7757) + UMAP + GMM", "test")],
     [(CATS, f"{MAPS}, first version (commit fae7757) + K-Means", "all"),
      (CATS, f"{MAPS}, first version (commit fae7757) + UMAP + GMM", "all")],
     [(FOOD, f"{MAPS}, first version (commit fae7757) + K-Means", "all"),
      (FOOD, f"{MAPS}, first version (commit fae7757) + UMAP + GMM", "all")]),
    ("the same, `FeatureMapAutoencoder` in the library, K-Means: 30 / 15 epochs",
     [(FMNIST, f"{MAPS} at 160 px + K-Means", "test"), (FMNIST, f"{MAPS} at 160 px, 15 epochs + K-Means", "test")], [], []),
    ("the former default (Lite0 class scores on UMAP for small gray; Lite2 class scores for colour)",
     [(FMNIST, "cae_sim default", "test")], [(CATS, "cae_sim default", "all")], [(FOOD, "cae_sim default", "all")]),
]


def render_learned_encoders() -> str:
    """Encoders learned over a frozen Lite0, ACC, from the rows of each set's clustering experiment."""
    rows = [[label, *[_acc(*cells) if cells else "" for cells in columns]] for label, *columns in LEARNED]
    return rows_table(["encoder, then clustering (ACC)", "Fashion-MNIST test (10,000)", "CIFAR cats and dogs (2,000)",
                       "food photos (542)"], rows)


# --- benchmarks ----------------------------------------------------------------------------------------------------


def _measured(results: dict) -> dict:
    """A benchmark's numbers: under "results" where ``write_results`` wrote the file, the file itself before that."""
    return results.get("results", results)


def _bench(name: str) -> dict | None:
    results = load(name)
    return None if results is None else _measured(results)


def render_benchmarks() -> str:
    """One row per benchmark results file: its command and the numbers it compares."""
    rows = []
    if (r := _bench("bench_fit")) is not None:
        t = r["throughput"]
        a, b = t["a. transform(folder): read + encode"], t["b. Keras predict, preloaded float32"]
        rows.append(["`python experiments/bench_fit.py`",
                     f"{r['folder']['n']:,} JPEGs of {r['folder']['size']} px, CAE: `transform(folder)` against bare Keras `predict` on preloaded arrays",
                     f"{a['images_per_s']:,.0f} vs {b['images_per_s']:,.0f} images/s (ratio {a['images_per_s'] / b['images_per_s']:.2f}); "
                     f"reading alone {t['d. iter_batches alone: reading']['images_per_s']:,.0f} images/s; whole `fit` {r['fit_seconds']['total']:.1f} s"])
    if (r := _bench("bench_memory")) is not None:
        rows.append(["`python experiments/bench_memory.py`",
                     f"peak RSS fitting {r['folder']['n']:,} JPEGs with the autoencoder",
                     f"{r['peak_rss_mb']:,.0f} MB (target {r['target_mb']:,} MB); fit {r['fit_seconds']:.0f} s"])
    if (r := _bench("bench_pretrained_fit")) is not None:
        rows.append(["`python experiments/bench_pretrained_fit.py`",
                     f"{r['folder']['n']:,} JPEGs: `Pipeline(encoder=\"efficientnet_lite0\").fit` against bare Keras `predict`",
                     f"{r['fit_images_per_s']:.1f} vs {r['predict_images_per_s']:.1f} images/s: ratio {r['ratio']:.2f} "
                     f"({r['ratio_without_network_build']:.2f} without the network build; target {r['target_ratio']})"])
    if (r := _bench("bench_contrastive_fit")) is not None:
        rows.append(["`python experiments/bench_contrastive_fit.py`",
                     f"{r['folder']['n']:,} JPEGs: `Pipeline(encoder=\"contrastive\").fit` ({r['views']} views) against a plain Lite0 fit",
                     f"{r['contrastive_fit']['median_s']:.1f} vs {r['plain_fit']['median_s']:.1f} s: ratio {r['ratio']:.1f} (target {r['target_ratio']}); "
                     f"caching views {r['phases_s']['cache_views']:.1f} s, training the head {r['phases_s']['train_head']:.1f} s"])
    if (r := _bench("bench_query")) is not None:
        s = r["search"]
        lat = s["latency"]
        rows.append(["`python experiments/bench_query.py`",
                     "one query over 100,000 codes (d = 32), median",
                     f"`ExactIndex` {lat['ExactIndex.kneighbors']['median_ms']:.1f} ms vs scikit-learn brute force "
                     f"{lat['NearestNeighbors(brute).kneighbors']['median_ms']:.1f} ms ({s['sklearn_median_over_exact_index']['as is']:.1f}×); "
                     f"`Pipeline.query(path)` {r['pipeline_query']['latency']['Pipeline.query(path)']['median_ms']:.0f} ms"])
    if (r := _bench("bench_search")) is not None:
        rows.append(["`python experiments/bench_search.py`", "exact against FAISS indexes, clustered codes (d = 128)",
                     "the table below"])
    if (r := _bench("bench_report")) is not None:
        rows.append(["`python experiments/bench_report.py`",
                     f"{r['images']:,} images, {r['clusters']} clusters: `write_report`, then opened in headless Chromium",
                     f"written in {r['write_report_s']} s ({r['index_html_mb']} MB `index.html`, {r['thumbnails_mb']} MB of thumbnails); "
                     f"map drawn {r['report_median']['ready_s']} s, `load` {r['report_median']['load_s']} s (target < {r['target_s']:g} s); "
                     f"a click {r['report_median']['click_s']} s"])
    if (r := _bench("bench_add")) is not None:
        rows.append(["`python experiments/bench_add.py`",
                     "100,000 JPEGs added to an autoencoder pipeline: `transform`, `add`, `add` on Dask",
                     "; ".join(f"{name} {row['images_per_s']:,.0f} images/s" for name, row in r.items())
                     + f"; peak RSS {max(row['peak_rss_mb'] for row in r.values()):,.0f} MB"])
    if (r := _bench("bench_litert")) is not None:
        rows.append(["`python experiments/bench_litert.py`", f"{r['folder']['n']} real photos: LiteRT against Keras",
                     "; ".join(f"{m['model']} ({m['layer']}): `transform` {m['paired_ratios']['library_litert_over_keras_transform']['median']:.2f}× Keras "
                               f"(target {m['target_litert_over_keras']}×)" for m in r["models"])])
    if (r := _bench("bench_load")) is not None:
        rows.append(["`python experiments/bench_load.py`", f"a save of {r['codes']:,} codes of {r['dimension']:,} values ({r['save_bytes'] / 1e9:.1f} GB)",
                     f"load {r['load_s']:.2f} s, first query {r['first_query_s']:.1f} s, `verify` {r['verify_s']:.1f} s"])
    if not rows:
        return "*No benchmark results are committed.*\n"
    return rows_table(["command", "what", "result"], rows)


def render_bench_search(results: dict) -> str:
    results = _measured(results)
    rows = []
    for n, size in results["sizes"].items():
        for setting in size["settings"]:
            build = size["builds"].get(setting["index"], {})
            rows.append([f"{int(n):,}", f"`{setting['index']}`", setting["setting"], f"{setting['recall_at_k']:.3f}",
                         f"{setting['single']['median_ms']:.2f}", f"{setting['speed_up_single']:.1f}×",
                         f"{setting['batched']['per_query']['median_ms']:.3f}",
                         f"{build.get('build_s', 0):.1f}", f"{build.get('rss_added_mb', 0):,.0f}"])
    return rows_table(["codes", "index", "setting", "recall@10", "1 query, ms", "speed-up", "ms a query in batches",
                       "build s", "RSS added, MB"], rows)


def render_bench_litert(results: dict) -> str:
    results = _measured(results)
    rows = []
    for model in results["models"]:
        for name, row in model["rows"].items():
            rows.append([f"{model['model']} ({model['layer']}, {model['image_size']} px)", name.replace("_", " "),
                         f"{row['images_per_s']:.1f}"])
    return rows_table(["model", "run", "images/s"], rows)


def render_litert_agreement(results: dict) -> str:
    results = _measured(results)
    rows = [[row["model"], row["layer"], f"{row['rel_l2_max']:.1e}", f"{row['top10_same']:.2f}"] for row in results["rows"]]
    return rows_table(["model", "layer", "max ‖a − b‖ / ‖a‖", "same top-10"], rows)


def render_float16_codes(results: dict) -> str:
    """float16_codes.py: float32 against float16 codes, per collection, and the rule's verdict."""
    rows = []
    for name, r in results["results"].items():
        f32, f16, delta = r["float32"], r["float16"], r["delta"]
        rows.append([name, f"{r['images']:,}", r["classes"], f"{r['recall_at_10']:.4f}",
                     f"{f32['nmi']:.4f} / {f16['nmi']:.4f}", f"{delta['nmi']:+.4f}",
                     f"{f32['ari']:.4f} / {f16['ari']:.4f}", f"{delta['ari']:+.4f}", f"{r['ari_between']:.4f}",
                     f"{delta['p@10']:+.4f}", f"{delta['copy_top1']:+.4f}", "yes" if r["no_loss"] else "**no**"])
    sizes = [r["npy_bytes"] for r in results["results"].values()]
    ratio = sum(s["float16"] for s in sizes) / sum(s["float32"] for s in sizes)
    seeds = results["options"]["seeds"]

    def spread(r: dict, measure: str) -> float:
        values = [run["float32"][measure] for run in r["per_seed"]]
        return max(values) - min(values)

    failing = [f"{name} (ΔNMI {r['delta']['nmi']:+.4f}, ΔARI {r['delta']['ari']:+.4f}; float32's own spread over the "
               f"seeds: NMI {spread(r, 'nmi'):.4f}, ARI {spread(r, 'ari'):.4f})"
               for name, r in results["results"].items() if not r["no_loss"]]
    return (f"Codes of `{results['encoding']}`; K-Means seeds 0–{seeds - 1}, NMI and ARI their means. "
            f"float32 / float16 against the labels; Δ = float16 − float32.\n\n"
            + rows_table(["collection", "images", "k", "recall@10", "NMI", "ΔNMI", "ARI", "ΔARI", "ARI(f32, f16)",
                          "ΔP@10", "Δcopy top-1", "no loss"], rows)
            + f"\nThe rule, fixed before measuring: {results['rule']}. "
            f"**Verdict: {'no loss' if results['no_loss'] else 'float16 fails the rule (not no loss)'}.**"
            + (f" Outside the bounds: {'; '.join(failing)}." if failing else "")
            + f" The .npy of the float16 codes is {ratio:.3f} of the float32 one's size.\n")


# --- the store (docs/collections.md) -------------------------------------------------------------------------------


def _store_numbers(results: dict) -> dict:
    """What the store's tables need from ``bench_store``'s results: the two measured sizes, the adding rates."""
    r = _measured(results)
    batches = r["build"]
    added = sum(b["size"] - a["size"] for a, b in zip([{"size": 0}] + batches, batches))
    return {"r": r, "half": r["measured"][0], "full": r["measured"][1],
            "add_codes_per_s": added / sum(batch["add_s"] for batch in batches),
            "rss_range": (min(b["rss_mb"] for b in batches), max(b["rss_mb"] for b in batches))}


def render_bench_store(results: dict) -> str:
    n = _store_numbers(results)
    r, half, full, targets = n["r"], n["half"], n["full"], n["r"]["targets"]

    def both(field, form):
        return [form(half[field]), form(full[field])]

    rows = [
        ["peak RSS of the process that adds", f"< {targets['peak_rss_mb']:,} MB", f"{r['peak_rss_adding_mb']:,.0f} MB (the whole build)", ""],
        ["its RSS after each add", "flat", f"{n['rss_range'][0]:,.0f}–{n['rss_range'][1]:,.0f} MB", ""],
        ["`CodeStore.open`", f"< {targets['open_s']:g} s", *both("open_s", lambda v: f"{v * 1000:.1f} ms")],
        ["first query (reads the compressed lists)", "", *both("first_query_s", lambda v: f"{v:.2f} s")],
        ["query, median / 90th percentile", f"≤ {targets['query_ms']:g} ms",
         *[f"{m['query_ms']['median_ms']:.1f} / {m['query_ms']['p90_ms']:.1f} ms" for m in (half, full)]],
        ["recall@10 against exact search", f"≥ {targets['recall_at_10']}", *both("recall_at_10", lambda v: f"{v:.3f}")],
        ["exact search (every code read), per query", "", *both("exact_search_ms_per_query", lambda v: f"{v:,.0f} ms")],
        ["index memory / raw float32 codes", f"≤ {targets['index_share_of_raw_codes']:.0%}",
         *[f"{m['index_mb']:,.0f} / {m['raw_float32_codes_mb']:,.0f} MB ({m['index_mb'] / m['raw_float32_codes_mb']:.1%})" for m in (half, full)]],
        ["on disk (float16 codes, ids, compressed codes, catalogue)", "", *both("disk_mb", lambda v: f"{v:,.0f} MB")],
        ["peak RSS of the process that searches (anonymous + file pages after the queries)", "",
         *[f"{m['peak_rss_searching_mb']:,.0f} MB ({m['rss_anon_and_file_after_queries_mb'][0]:,.0f} + "
           f"{m['rss_anon_and_file_after_queries_mb'][1]:,.0f})" for m in (half, full)]],
    ]
    table = rows_table(["", "target", f"{half['size']:,} codes", f"{full['size']:,} codes"], rows)
    removal, crash = r["remove_and_compact"], r["crash"]
    grid = ", ".join(f"{g['n_probe']} lists and {g['candidates']} candidates {g['recall_at_10']:.3f} in {g['mean_query_ms']:.1f} ms"
                     for g in full["n_probe_and_candidates"])
    return (table + f"\nAdding: {n['add_codes_per_s']:,.0f} codes/s into the store (generating them not counted). "
            f"`remove` of {removal['removed']:,} images (1 %): {removal['remove_s']:.1f} s; `compact`: {removal['compact_s']:,.0f} s "
            f"(segments after it: {removal['segments_after']}), peak RSS {removal['peak_rss_mb']:,.0f} MB. "
            f"SIGKILL in the middle of an `add`: batches reported added before it: {crash['batches_reported']}, "
            f"{'all kept, code for code' if crash['all_reported_kept_intact'] else 'NOT all kept'}; "
            f"{crash['codes_of_the_killed_batch_in_the_store']:,} codes of the killed batch in the store.\n\n"
            f"Recall@10 and mean query time at {full['size']:,} codes for other settings: {grid}.\n")


def render_ten_million(results: dict) -> str:
    n = _store_numbers(results)
    full, ten = n["full"], 10_000_000
    encode = load("bench_pretrained_fit")
    per_code_disk, per_code_index = full["disk_mb"] / full["size"], full["index_mb"] / full["size"]
    rows = []
    if encode is not None:
        rate = _measured(encode)["fit_images_per_s"]
        rows.append(["encoding with `efficientnet_lite0` (`bench_pretrained_fit.py`)", f"{ten / rate / 3600:,.0f} h at {rate:.0f} images/s",
                     f"{ten / rate / 3600 / 32:,.1f} h"])
    rows += [
        ["adding the codes to the store", f"{ten / n['add_codes_per_s'] / 60:,.0f} min at {n['add_codes_per_s']:,.0f} codes/s",
         "the same: one writer (encoding is what spreads)"],
        ["store on disk", f"{per_code_disk * ten / 1000:,.1f} GB", "on the machine that adds (workers send codes)"],
        ["compressed index in RAM, per searching process", f"{per_code_index * ten / 1000:,.2f} GB", ""],
        ["RAM of the process that adds", f"{n['r']['peak_rss_adding_mb']:,.0f} MB, flat in the store's size (measured to {full['size']:,})", "a Dask worker: ≈ 1.2 GB (`bench_add.py`)"],
    ]
    return (rows_table(["10,000,000 images of 1,280 values (CodeStore, float16)", "one 2-core machine", "32 such machines (Dask)"], rows)
            + f"\nA query visits the same number of lists at any size, and each list grows with the store: a query took "
            f"{n['half']['query_ms']['median_ms']:.1f} ms (median) at {n['half']['size']:,} codes and "
            f"{full['query_ms']['median_ms']:.1f} ms at {full['size']:,}. Not measured at 10,000,000, where each list "
            f"holds {ten / full['size']:.0f} times the codes it holds at {full['size']:,}.\n")


BLOCKS = {
    "clustering": render,
    "former_default": render_former_default,
    "learned_encoders": render_learned_encoders,
    "copy_matching": from_file("copy_matching", render_copy_matching),
    "near_duplicates": from_file("near_duplicates", render_near_duplicates),
    "cae_augment_ablation": from_file("cae_augment_ablation", render_cae_augment_ablation),
    "small_gray_features": from_file("small_gray_features", render_small_gray_features),
    "copy_detection": from_file("copy_detection", render_copy_detection),
    "benchmarks": render_benchmarks,
    "bench_search": from_file("bench_search", render_bench_search),
    "bench_litert": from_file("bench_litert", render_bench_litert),
    "litert_agreement": from_file("litert_agreement", render_litert_agreement),
    "float16_codes": from_file("float16_codes", render_float16_codes),
    "bench_store": from_file("bench_store", render_bench_store),
    "ten_million": from_file("bench_store", render_ten_million),
}


def rendered(text: str) -> str:
    """The page's text with every generated block rendered anew."""

    def block(found: re.Match) -> str:
        name = found.group(2)
        if name not in BLOCKS:
            raise ValueError(f"unknown generated block {name!r}")
        body = BLOCKS[name]().rstrip("\n") + "\n"
        return f"{found.group(1)}{body}{found.group(4)}"

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = parser.parse_args(argv)
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = rendered(text)
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    if args.check and stale:
        print("out of date: " + ", ".join(str(page.relative_to(ROOT)) for page in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
