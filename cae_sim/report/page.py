"""Write the report folder: thumbnails, then ``index.html`` rendered from the templates, swapped in atomically."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import jinja2
from sklearn.utils.validation import check_is_fitted

from .._checks import check_int
from .._files import printable, swap_into_place
from ..duplicates import check_threshold
from .content import report_content
from .defaults import DEFAULT_NEIGHBORS, DEFAULT_PER_CLUSTER
from .layout import PAGE, THUMBNAILS, check_replaceable
from .thumbnails import write_thumbnails


def write_report(
    pipeline,
    out: str | os.PathLike,
    *,
    per_cluster: int = DEFAULT_PER_CLUSTER,
    neighbors: int = DEFAULT_NEIGHBORS,
    threshold: float | None = None,
    n_jobs: int = -1,
    verbose: int = 0,
) -> Path:
    """Write a self-contained HTML report of a pipeline fitted on image files.

    The folder is written beside ``out`` under a temporary name, then swapped in, so an interrupted run
    leaves the earlier report whole. An existing ``out`` is replaced only if it is an earlier report.

    Parameters
    ----------
    pipeline : Pipeline
        A pipeline fitted on files (``paths_`` is not None).
    out : str or path-like
        The report folder; ``out/index.html`` is the page.
    per_cluster : int, default=24
        Most central images shown per cluster; a third as many outliers (at least one) follow.
    neighbors : int, default=8
        Nearest images listed in each image's panel.
    threshold : float or None, default=None
        Similarity from which images chain into a near-duplicate group (see ``Pipeline.duplicates``); None: the
        pipeline's calibrated ``duplicate_threshold``.
    n_jobs : int, default=-1
        Threads that make the thumbnails; -1: one per core.
    verbose : int, default=0
        1 shows a progress bar.

    Returns
    -------
    Path
        The page, ``out/index.html``.

    Raises
    ------
    ValueError
        If the pipeline is not fitted, was fitted on an array, or an argument is invalid.
    OSError
        If ``out`` exists and is not an earlier report, or cannot be written.
    """
    check_is_fitted(pipeline, "codes_")
    if pipeline.paths_ is None:
        raise ValueError("the report shows the images' files: fit the pipeline on a folder or a list of files, not an array")
    per_cluster, neighbors = check_int("per_cluster", per_cluster), check_int("neighbors", neighbors)
    threshold = pipeline.duplicate_threshold if threshold is None else threshold
    check_threshold(threshold, pipeline.metric)  # before the neighbours of every image are searched
    target = Path(out)
    check_replaceable(target)
    content = report_content(pipeline, per_cluster, neighbors, threshold)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        (staging / THUMBNAILS).mkdir(parents=True)
        unreadable = [(printable(path), printable(reason))
                      for path, reason in write_thumbnails(pipeline.paths_, staging / THUMBNAILS, n_jobs, verbose)]
        page = _environment().get_template("report.html").render(vars(content), unreadable=unreadable, map_kind=_map_kind(pipeline))
        (staging / PAGE).write_text(page, encoding="utf-8")
        swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / PAGE


def _map_kind(pipeline) -> str:
    if hasattr(pipeline.clustering_, "embedding_"):
        return "The UMAP embedding the clusters were found in, reduced to two dimensions by PCA"
    return "The codes reduced to two dimensions by PCA"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("cae_sim.report", "templates"),
        autoescape=True,  # every path, reason and parameter is escaped
        undefined=jinja2.StrictUndefined,  # a misspelt name in the template is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["basename"] = os.path.basename
    environment.filters["colour"] = lambda label: f"hsl({(label * 137.508) % 360:.1f}, 70%, 42%)"
    return environment
