"""Cost of ``Pipeline(encoder="contrastive").fit`` against plainly encoding the same images.

Question: the backbone is frozen, so the contrastive encoder encodes each
image's ``views`` once (the image and augmented copies) and trains its head on
the cached features. Does its whole ``fit`` on 1,000 JPEGs cost at most
(views + 2) × a plain ``Pipeline(encoder="efficientnet_lite0").fit`` of the same
folder (reading, encoding, K-Means)? Both run in this process, one after the
other, after a warm-up fit that builds the network and its weight cache.

    python experiments/bench_contrastive_fit.py [--n 1000] [--size 256] [--views 8]
"""

from __future__ import annotations

import argparse

from benchlib import folder_info, make_jpeg_folder, time_call, timed_methods, write_results
from cae_sim import ContrastiveEncoder, Pipeline
from cae_sim.augment import Augment
from cae_sim import tune_malloc

PHASES = {
    "cache_views": (ContrastiveEncoder, "_cache_views"),
    "augment": (Augment, "__call__"),
    "train_head": (ContrastiveEncoder, "_train_head"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--views", type=int, default=8)
    args = parser.parse_args()

    folder = make_jpeg_folder(args.n, args.size)
    common = dict(n_clusters=10, clustering="kmeans", random_state=0)
    Pipeline(encoder="efficientnet_lite0", **{**common, "n_clusters": 2}).fit(sorted(folder.glob("*.jpg"))[:8])  # warm-up
    plain = time_call(lambda: Pipeline(encoder="efficientnet_lite0", **common).fit(folder), 1)
    encoder = ContrastiveEncoder(views=args.views, random_state=0)
    with timed_methods(PHASES) as intervals:
        learned = time_call(lambda: Pipeline(encoder=encoder, **common).fit(folder), 1)
    phases = {name: sum(end - start for start, end in calls) for name, calls in intervals.items()}
    ratio = learned["median_s"] / plain["median_s"]
    print(f"plain efficientnet_lite0 fit:  {plain['median_s']:.1f} s")
    print(f"contrastive fit ({args.views} views): {learned['median_s']:.1f} s "
          f"(caching views {phases['cache_views']:.1f} s, of which augmenting {phases['augment']:.1f} s; "
          f"training the head {phases['train_head']:.1f} s)")
    print(f"ratio {ratio:.2f}; target at most views + 2 = {args.views + 2}")
    results = {"folder": folder_info(folder), "views": args.views, "plain_fit": plain, "contrastive_fit": learned,
               "phases_s": phases, "ratio": ratio, "target_ratio": args.views + 2}
    print("wrote", write_results("bench_contrastive_fit", args, results=results))


if __name__ == "__main__":
    tune_malloc()  # as the cae_sim commands do
    main()
