"""What a report shows, computed from a fitted pipeline: its overview, clusters, map, neighbours and duplicates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._files import printable

#: Digits kept of the map's coordinates (in [0, 1]) and of the neighbours' scores: enough for a screen, small JSON.
MAP_DIGITS, SCORE_DIGITS = 4, 4


@dataclass
class ClusterView:
    """One cluster's section: its label, size, most central images and outliers (positions)."""

    label: int
    size: int
    central: list[int]
    outliers: list[int]


@dataclass
class ReportContent:
    """Everything the page shows; ``points`` is the data its script reads (one entry per image in each list).

    File names are as ``printable`` shows them: bytes that are not UTF-8 as a visible ``\\xNN``.
    """

    n_images: int
    encoder: str
    params: dict[str, str]
    skipped: list[tuple[str, str]]
    clusters: list[ClusterView]
    duplicates: list[list[int]]
    threshold: float
    calibration: dict | None
    points: dict[str, list]


def report_content(pipeline, per_cluster: int, neighbors: int, threshold: float) -> ReportContent:
    """Compute a report's content from a pipeline fitted on files.

    Parameters
    ----------
    pipeline : Pipeline
        Fitted, with ``paths_``.
    per_cluster : int
        Most central images shown per cluster; a third as many outliers (at least one) follow them.
    neighbors : int
        Nearest other images listed in each image's panel.
    threshold : float
        Similarity above which images chain into a near-duplicate group (``Pipeline.duplicates``).

    Returns
    -------
    ReportContent
    """
    from ..plots import map_coordinates  # here, not at the top: the commands' start-up need not load PCA

    positions, scores = nearest_others(pipeline, neighbors)
    return ReportContent(
        n_images=len(pipeline.codes_),
        encoder=_shown(pipeline.encoder) if pipeline.encoder_choice_ == "given" else pipeline.encoder_choice_,
        params={name: _shown(value) for name, value in pipeline.get_params().items()},
        skipped=[(printable(path), printable(reason)) for path, reason in pipeline.skipped_],
        clusters=cluster_views(pipeline.labels_, pipeline.distance_to_center(), per_cluster),
        duplicates=pipeline.duplicates(threshold),
        threshold=threshold,
        calibration=None if pipeline.calibration_ is None else pipeline.calibration_.to_dict(),
        points={
            "paths": [printable(path) for path in pipeline.paths_],  # as shown; the thumbnails are read from paths_
            "labels": pipeline.labels_.tolist(),
            "xy": unit_square(map_coordinates(pipeline)).round(MAP_DIGITS).tolist(),
            "neighbors": positions.tolist(),
            "scores": scores.round(SCORE_DIGITS).tolist(),
            "kinds": neighbour_kinds(pipeline, scores).tolist(),
        },
    )


def nearest_others(pipeline, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each fitted image's ``k`` nearest other fitted images, best first, as ``query`` ranks them.

    Returns
    -------
    positions : ndarray of shape (n_images, min(k, n_images - 1)), int
    scores : ndarray of the same shape, float32
        The similarity of each (``Match.score``).
    """
    index = pipeline.index_
    distances, positions = index.kneighbors(pipeline.codes_, k + 1)
    not_self = positions != np.arange(len(positions))[:, None]
    # A stable sort moves the image itself (if found) behind the others, keeping their order.
    order = np.argsort(~not_self, axis=1, kind="stable")[:, : min(k, len(positions) - 1)]
    return np.take_along_axis(positions, order, 1), index.score(np.take_along_axis(distances, order, 1))


def neighbour_kinds(pipeline, scores: np.ndarray) -> np.ndarray:
    """``Pipeline.describe_score`` of every score at once ("copy", "similar" or ""; "" without a calibration)."""
    calibration = pipeline.calibration_
    return np.full(scores.shape, "") if calibration is None else calibration.kinds(scores)


def cluster_views(labels: np.ndarray, distances: np.ndarray, per_cluster: int) -> list[ClusterView]:
    """One ``ClusterView`` per cluster label, largest cluster first.

    The central images are the ``per_cluster`` nearest to the centre, nearest first; the outliers are the
    farthest ``max(1, per_cluster // 3)`` of the rest, farthest first (none when all are shown as central).
    """
    views = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        ranked = members[np.argsort(distances[members], kind="stable")]
        central, rest = ranked[:per_cluster], ranked[per_cluster:]
        outliers = rest[::-1][: max(1, per_cluster // 3)]
        views.append(ClusterView(int(label), len(members), central.tolist(), outliers.tolist()))
    return sorted(views, key=lambda view: (-view.size, view.label))


def unit_square(xy: np.ndarray) -> np.ndarray:
    """Shift and scale 2-D points into [0, 1]², the same scale on both axes (the map is not stretched)."""
    xy = np.asarray(xy, dtype=np.float64)
    low, span = xy.min(axis=0), np.ptp(xy, axis=0).max()
    centred = (xy - low) / span if span > 0 else np.zeros_like(xy)
    return centred + (1 - centred.max(axis=0)) / 2  # the narrower axis is centred


def _shown(value) -> str:
    """A parameter's value as the overview shows it: encoder objects by their name, lists joined."""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_shown, value))
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else str(value)
