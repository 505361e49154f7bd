"""``python -m cae_sim.train DATA --out DIR``: fit a pipeline on a folder, save it, write clusters.csv."""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
import time
import warnings
from collections import Counter

import numpy as np

from ._startup import prepare_command_process
from .clustering import CLUSTERINGS
from .index import METRICS

CLUSTERS_FILE = "clusters.csv"
#: What ``--encoder auto`` picks.
AUTO_ENCODER = (
    "efficientnet_lite2's class scores for colour or larger images; for small gray ones, efficientnet_lite0's if "
    "ImageNet recognises them, else the autoencoder"
)


def positive_int(text: str) -> int:
    """Parse an option that takes a positive int."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def threshold_arg(text: str) -> float:
    """Parse ``--threshold``: a number in [-1, 1], the widest range of scores (the metric's own is checked after loading)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [-1, 1], got {text!r}")
    return value


def clusters_arg(text: str) -> int | str:
    """Parse ``--clusters``: a positive int or "auto"."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive int or 'auto', got {text!r}") from None


def n_jobs_arg(text: str) -> int:
    """Parse ``--n-jobs``: -1 (one thread per core) or a positive int."""
    if text.strip() == "-1":
        return -1
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected -1 or a positive int, got {text!r}") from None


def encoder_listing() -> list[tuple[str, str]]:
    """Return the name and a one-line description of every encoder ``--encoder`` takes, "auto" first.

    The names are those of ``cae_sim.encoders.ENCODERS`` but "ensemble" (given by
    its members, not by name); importing the registry loads TensorFlow.

    Returns
    -------
    list of (str, str)
        ``(name, description)``, in the registry's order after "auto"; the
        description is the first line of the encoder class's docstring.
    """
    from .encoders import ENCODERS

    named = [(name, (cls.__doc__ or "").strip().partition("\n")[0]) for name, cls in ENCODERS.items() if name != "ensemble"]
    return [("auto", f"{AUTO_ENCODER} (the default)"), *named]


class ListEncodersAction(argparse.Action):
    """``--list-encoders``: print ``encoder_listing()``, one name a line, and exit 0; other arguments need not be given."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values, option_string: str | None = None) -> None:
        prepare_command_process()  # the registry loads TensorFlow: quietly
        listing = encoder_listing()
        width = max(len(name) for name, _ in listing)
        for name, description in listing:
            print(f"{name:<{width}}  {description}")
        parser.exit(0)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of the train command to ``parser``."""
    parser.add_argument("data", help="folder of images (scanned recursively)")
    parser.add_argument("--out", required=True, help="directory to save the fitted pipeline into")
    parser.add_argument("--list-encoders", action=ListEncodersAction, help="print the encoder names --encoder takes, and exit")
    parser.add_argument("--clusters", type=clusters_arg, default="auto", help="number of clusters, or 'auto' (default)")
    parser.add_argument("--encoder", default="auto", help=f"encoder name, see --list-encoders (default: auto, {AUTO_ENCODER})")
    parser.add_argument("--epochs", type=positive_int, default=None, help="most training epochs (default: the encoder's; 25 for cae)")
    parser.add_argument("--image-size", type=positive_int, default=None, help="side images are resized to (default for cae: their typical side rounded up to a multiple of 8, 16 to 64)")
    parser.add_argument("--code-size", type=positive_int, default=None, help="length of the code (default: the encoder's; 32 for cae)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="training batch size (default: about 64 steps an epoch)")
    parser.add_argument(
        "--clustering", choices=("auto", *CLUSTERINGS), default="auto",
        help="default: auto, UMAP + Gaussian mixture for autoencoder codes from 1,000 images on, else K-Means",
    )
    parser.add_argument("--metric", choices=METRICS, default="cosine")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable runs")
    parser.add_argument("--n-jobs", type=n_jobs_arg, default=-1, metavar="N", help="threads decoding images (default: -1, one per core)")
    parser.add_argument(
        "--sample", type=positive_int, default=None,
        help="train the encoder and clustering on a random sample of this many images, then encode and add the rest",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier save in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_train(args: argparse.Namespace) -> int:
    """Fit, save, write clusters.csv and print a summary; return the exit status."""
    from .pipeline import Pipeline, SkippedImagesWarning  # after the command has quieted TensorFlow

    check_out_folder(args.out, args.overwrite)  # before hours of training, not after
    started = time.perf_counter()
    pipeline = Pipeline(
        encoder=args.encoder,
        n_clusters=args.clusters,
        clustering=args.clustering,
        image_size=args.image_size,
        code_size=args.code_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        metric=args.metric,
        random_state=args.seed,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedImagesWarning)  # the summary lists them
        if args.sample:
            fit_on_sample(pipeline, args.data, args.sample, args.seed)
        else:
            pipeline.fit(args.data)
    pipeline.save(args.out)
    write_clusters_csv(pipeline, os.path.join(args.out, CLUSTERS_FILE))
    print_summary(pipeline, args.out, time.perf_counter() - started)
    return 0


def fit_on_sample(pipeline: Pipeline, data: str, sample: int, seed: int | None) -> None:
    """Fit on a random sample of the folder's images, then add the rest (encoded, not trained on).

    The fitted images come first in ``paths_``, the added ones after them.
    """
    from .images import resolve_source

    _, paths, skipped = resolve_source(data)
    picked = np.zeros(len(paths), bool)
    picked[np.random.default_rng(seed).choice(len(paths), min(sample, len(paths)), replace=False)] = True
    pipeline.fit([path for path, chosen in zip(paths, picked) if chosen])
    rest = [path for path, chosen in zip(paths, picked) if not chosen]
    if rest:
        pipeline.add(rest)
    pipeline.skipped_ = skipped + pipeline.skipped_  # what the folder listing left out, as fit(data) reports it


def check_out_folder(out: str, overwrite: bool) -> None:
    """Raise ValueError if ``out`` holds anything but an earlier save, or a save and ``overwrite`` is off."""
    from .store import MANIFEST  # after the command has quieted TensorFlow

    if not os.path.exists(out) or (os.path.isdir(out) and not os.listdir(out)):
        return
    if not os.path.isfile(os.path.join(out, MANIFEST)):
        raise ValueError(f"{out!r} exists and is not a cae_sim save: choose another --out")
    if not overwrite:
        raise ValueError(f"{out!r} already holds a save: pass --overwrite to replace it")


def write_clusters_csv(pipeline: Pipeline, path: str) -> None:
    """Write ``path, cluster, distance_to_center`` for each fitted image."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "cluster", "distance_to_center"])
        for name, label, distance in zip(pipeline.paths_, pipeline.labels_, pipeline.distance_to_center()):
            writer.writerow([name, int(label), f"{distance:.6f}"])


def print_summary(pipeline: Pipeline, out: str, seconds: float) -> None:
    """Print what was read, skipped and grouped."""
    sizes = Counter(pipeline.labels_.tolist())
    print(f"encoder:       {pipeline.encoder_.name if pipeline.encoder_choice_ == 'given' else pipeline.encoder_choice_}")
    print(f"images read:   {len(pipeline.paths_)}")
    print(f"skipped:       {len(pipeline.skipped_)}")
    for path, reason in pipeline.skipped_:
        print(f"  {path}: {reason}")
    chosen = " (chosen by silhouette)" if pipeline.clustering_.scores_ else ""
    print(f"clusters:      {pipeline.n_clusters_}{chosen}")
    for label in sorted(sizes):
        print(f"  cluster {label}: {sizes[label]} image{'s' if sizes[label] != 1 else ''}")
    calibration = pipeline.calibration_
    if calibration is not None:
        print(f"duplicates:    from a score of {calibration.threshold:.3f} (calibrated on {calibration.n_copies} synthetic "
              f"copies: estimated precision {calibration.precision:.2f}, recall {calibration.recall:.2f})")
    print(f"saved to:      {out} (clusters in {os.path.join(out, CLUSTERS_FILE)})")
    print(f"time:          {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cae_sim.train``."""
    parser = argparse.ArgumentParser(prog="python -m cae_sim.train", description=__doc__.split(":", 1)[1].strip())
    add_train_arguments(parser)
    return guarded(run_train, parser.parse_args(argv))


def guarded(command, args: argparse.Namespace) -> int:
    """Run a command; print a bad input's error on one line and return 2 instead of a traceback."""
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    prepare_command_process()  # the command owns its process
    try:
        return command(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
