"""Pictures drawn with OpenCV alone (no plotting library): grids of image tiles and a map of the codes.

- ``tile_grid``: images as square tiles in rows, with optional captions; ``write_image`` writes any picture.
- ``query_grid``: a query beside its best matches, each with its score.
- ``cluster_grid``: a cluster's most central images.
- ``reconstructions``: images above the autoencoder's reconstructions of them.
- ``map_coordinates`` and ``code_map``: the fitted codes in 2-D, and a picture of them coloured by cluster.

Every picture is an RGB uint8 array. The grids of a fitted pipeline read its
images from ``paths_``; a pipeline fitted on an array needs that array as ``images=``.

>>> from cae_sim.plots import query_grid, write_image
>>> write_image("matches.png", query_grid(pipeline, "photos/cat.jpg", n=8))   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_is_fitted

from ._checks import check_int
from .images import read_image, resize, to_rgb_uint8

if TYPE_CHECKING:
    from .pipeline import Pipeline

CAPTION_FONT = cv2.FONT_HERSHEY_SIMPLEX
#: Scale of the caption font: digits 11 px high; a caption wider than its tile is drawn smaller.
CAPTION_SCALE = 0.4
_TEXT_SIZE, _TEXT_BASELINE = cv2.getTextSize("Ag", CAPTION_FONT, CAPTION_SCALE, 1)
#: Height of the caption band under each tile: the text's ascent and descent, and a pixel above and below.
CAPTION_HEIGHT = _TEXT_SIZE[1] + _TEXT_BASELINE + 2


def tile_grid(
    rows: list[list[np.ndarray]],
    columns: int | None = None,
    tile: int = 40,
    gap: int = 4,
    captions: list[list[str]] | None = None,
) -> np.ndarray:
    """Draw images as square tiles in rows on a white canvas, each with an optional caption under it.

    Parameters
    ----------
    rows : list of list of ndarray
        The images of each row, left to right; a row may be shorter than the others, or empty.
        Each image is gray (H, W) or (H, W, 1), or RGB (H, W, 3); uint8, uint16, or float in [0, 1].
    columns : int, optional
        Cells per row of the canvas; by default, the length of the longest row.
    tile : int
        Side of a tile in pixels; each image is resized to it (nearest neighbour, so pixels stay sharp).
    gap : int
        White pixels between neighbouring tiles; half of it (rounded down) also surrounds the grid.
    captions : list of list of str, optional
        A caption for each image, in the shape of ``rows``, written in black in a band of
        ``CAPTION_HEIGHT`` pixels under its tile (smaller where it would be wider than the tile).
        Without captions there is no band.

    Returns
    -------
    ndarray of shape (len(rows) * (tile + band + gap), columns * (tile + gap), 3), uint8
        The RGB canvas, where ``band`` is ``CAPTION_HEIGHT`` with captions and 0 without: row ``r``'s
        image ``c`` fills the square at ``(r * (tile + band + gap) + gap // 2, c * (tile + gap) + gap // 2)``.

    Raises
    ------
    ValueError
        If there is no image, a row holds more than ``columns`` images, ``tile``, ``gap`` or ``columns``
        is invalid, or ``captions`` does not match ``rows``.
    """
    longest = max(map(len, rows), default=0)
    if not longest:
        raise ValueError("tile_grid needs at least one image")
    columns = longest if columns is None else check_int("columns", columns)
    tile, gap = check_int("tile", tile), check_int("gap", gap, minimum=0)
    if longest > columns:
        raise ValueError(f"a row holds {longest} images, more than columns={columns}")
    if captions is not None:
        _check_captions(captions, rows)
    band = 0 if captions is None else CAPTION_HEIGHT
    width, height = tile + gap, tile + band + gap
    canvas = np.full((len(rows) * height, columns * width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            top, left = r * height + gap // 2, c * width + gap // 2
            canvas[top : top + tile, left : left + tile] = _tile(image, tile)
            if band:
                canvas[top + tile : top + tile + band, left : left + tile] = _caption(captions[r][c], tile)
    return canvas


def _check_captions(captions: list[list[str]], rows: list[list[np.ndarray]]) -> None:
    """Raise ValueError unless ``captions`` has the shape of ``rows``."""
    if list(map(len, captions)) != list(map(len, rows)):
        raise ValueError(f"captions must match rows: rows of {list(map(len, rows))} images, captions of {list(map(len, captions))}")


def _caption(text: str, width: int) -> np.ndarray:
    """``text`` in black, centred on a white band of ``width`` × ``CAPTION_HEIGHT`` pixels."""
    band = np.full((CAPTION_HEIGHT, width, 3), 255, np.uint8)
    text_width = cv2.getTextSize(text, CAPTION_FONT, CAPTION_SCALE, 1)[0][0]
    scale = CAPTION_SCALE * min(1.0, width / max(text_width, 1))
    text_width = cv2.getTextSize(text, CAPTION_FONT, scale, 1)[0][0]
    origin = (max(0, (width - text_width) // 2), 1 + _TEXT_SIZE[1])  # the baseline: the ascent below the top pixel
    cv2.putText(band, text, origin, CAPTION_FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return band


def _tile(image: np.ndarray, tile: int) -> np.ndarray:
    """``image`` as an RGB uint8 square of side ``tile``."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise ValueError(f"expected a gray (H, W) or RGB (H, W, 3) image, got shape {image.shape}")
    return cv2.resize(to_rgb_uint8(image), (tile, tile), interpolation=cv2.INTER_NEAREST)


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image to ``path``, in the format its extension names (PNG if it has none).

    The folder must exist. Non-ASCII paths work (the file is encoded in memory, then written).

    Parameters
    ----------
    path : str or path-like
    rgb : ndarray of shape (H, W, 3), uint8

    Raises
    ------
    ValueError
        If ``rgb`` is not a uint8 array of shape (H, W, 3).
    OSError
        If OpenCV cannot encode the image in that format or the file cannot be written; the message names the file.
    """
    path, rgb = os.fspath(path), np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"expected an RGB uint8 image of shape (H, W, 3), got {rgb.dtype} of shape {rgb.shape}")
    extension = os.path.splitext(path)[1] or ".png"
    try:
        ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    except cv2.error as error:
        raise OSError(f"cannot encode an image as {extension!r} for {path!r}: {error.err}") from None
    if not ok:
        raise OSError(f"cannot encode an image as {extension!r} for {path!r}")
    with open(path, "wb") as file:  # open's error names the file
        encoded.tofile(file)


# ---------------------------------------------------------------- pictures of a fitted pipeline


def query_grid(
    pipeline: Pipeline,
    image: str | os.PathLike | np.ndarray,
    n: int = 8,
    *,
    images: Sequence | np.ndarray | None = None,
    columns: int | None = None,
    tile: int = 64,
    gap: int = 4,
) -> np.ndarray:
    """Draw a query image beside its ``n`` best matches, with each match's score (``"0.934"``) under it.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline.
    image : str, path-like, or ndarray of shape (H, W) or (H, W, C)
        The query, as ``Pipeline.query`` takes it; captioned ``"query"``.
    n : int, default=8
        How many matches (all fitted images if there are fewer).
    images : sequence of paths or ndarray, optional
        The fitted images in ``codes_``'s order, read instead of ``paths_``: needed when the
        pipeline was fitted on an array (pass that array).
    columns : int, optional
        Tiles per row; by default all in one row. The canvas is ``min(columns, n + 1)`` tiles wide.
    tile, gap : int
        Side of a tile and the white pixels between tiles, as in ``tile_grid``.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        The query's tile first, then the matches best first, left to right and row by row.

    Raises
    ------
    ValueError
        If ``n`` or ``columns`` < 1, an image cannot be read, or ``images`` is missing or of the wrong length.
    OSError
        If an image file does not exist.
    """
    n = check_int("n", n)
    columns = n + 1 if columns is None else check_int("columns", columns)
    fitted = _fitted_images(pipeline, images)
    matches = pipeline.query(image, n)
    pictures = [_picture(image, tile)] + [_picture(fitted[match.index], tile) for match in matches]
    captions = ["query"] + [f"{match.score:.3f}" for match in matches]
    return _wrapped_grid(pictures, captions, min(columns, n + 1), tile, gap)


def cluster_grid(
    pipeline: Pipeline,
    cluster: int,
    n: int = 24,
    *,
    images: Sequence | np.ndarray | None = None,
    columns: int = 8,
    tile: int = 64,
    gap: int = 4,
) -> np.ndarray:
    """Draw a cluster's ``n`` most central images, nearest to its centre first, in rows of ``columns``.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline.
    cluster : int
        The cluster, from 0 to ``pipeline.n_clusters_ - 1``.
    n : int, default=24
        How many images (all of the cluster's if it has fewer); centrality is ``pipeline.distance_to_center()``.
    images : sequence of paths or ndarray, optional
        The fitted images, as in ``query_grid``.
    columns : int, default=8
        Tiles per row; the canvas is ``min(columns, n)`` tiles wide whatever the cluster's size.
    tile, gap : int
        Side of a tile and the white pixels between tiles, as in ``tile_grid``.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8

    Raises
    ------
    ValueError
        If ``cluster`` is not a cluster of the pipeline or has no image, ``n`` or ``columns`` < 1,
        or ``images`` is missing or of the wrong length.
    """
    check_is_fitted(pipeline, "labels_")
    n, columns = check_int("n", n), check_int("columns", columns)
    if check_int("cluster", cluster, minimum=0) >= pipeline.n_clusters_:
        raise ValueError(f"cluster {cluster} is out of range: the pipeline has clusters 0 to {pipeline.n_clusters_ - 1}")
    fitted = _fitted_images(pipeline, images)
    members = np.flatnonzero(pipeline.labels_ == cluster)
    if not len(members):
        raise ValueError(f"cluster {cluster} has no images")
    central = members[np.argsort(pipeline.distance_to_center()[members], kind="stable")[:n]]
    return _wrapped_grid([_picture(fitted[i], tile) for i in central], None, min(columns, n), tile, gap)


def reconstructions(pipeline: Pipeline, images: Sequence | np.ndarray, *, tile: int = 64, gap: int = 4) -> np.ndarray:
    """Draw images as the autoencoder sees them in one row, and its reconstructions of them below.

    Parameters
    ----------
    pipeline : Pipeline
        A pipeline fitted with the autoencoder (``encoder="cae"``).
    images : sequence of paths or arrays, or ndarray of shape (N, H, W) or (N, H, W, C)
        The images to reconstruct; each is resized to the autoencoder's ``image_size`` as ``fit`` does.
    tile, gap : int
        Side of a tile and the white pixels between tiles, as in ``tile_grid``.

    Returns
    -------
    ndarray of shape (2 * (tile + gap), N * (tile + gap), 3), uint8

    Raises
    ------
    ValueError
        If the pipeline's encoder is not the autoencoder, there is no image, or one cannot be read.
    OSError
        If an image file does not exist.
    """
    check_is_fitted(pipeline, "encoder_")
    encoder = pipeline.encoder_
    if getattr(encoder, "name", None) != "cae":
        name = getattr(encoder, "name", type(encoder).__name__)
        raise ValueError(f"reconstructions needs the autoencoder (encoder='cae'), but the pipeline's encoder is {name!r}")
    if not len(images):
        raise ValueError("reconstructions needs at least one image")
    pixels = np.stack([read_image(image, encoder.image_size) for image in images])
    return tile_grid([list(pixels), list(encoder.reconstruct(pixels))], tile=tile, gap=gap)


def map_coordinates(pipeline: Pipeline) -> np.ndarray:
    """Place every fitted image on a 2-D map: the first two principal components of its code.

    The codes are taken as the clustering sees them: the UMAP embedding of a manifold clustering
    (``clustering_.embedding_``), otherwise ``clustering_.prepare(codes_, metric)`` (unit length
    with the cosine metric). The same pipeline always gives the same map.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline.

    Returns
    -------
    ndarray of shape (n_images, 2), float32
        Row ``i`` places ``codes_[i]``; the first column spreads the most.
    """
    check_is_fitted(pipeline, "clustering_")
    clustering = pipeline.clustering_
    space = clustering.prepare(pipeline.codes_, pipeline.metric)
    if hasattr(clustering, "embedding_"):
        # embed gives each fitted code its own place in the embedding, and also places the
        # codes the embedding lacks (added since the fit, or left out of a sampled fit)
        space = clustering.embed(space)
    components = min(2, *space.shape)  # PCA finds no more components than samples or dimensions
    coordinates = np.zeros((len(space), 2), np.float32)
    coordinates[:, :components] = PCA(components, random_state=0).fit_transform(space)
    return coordinates


def code_map(pipeline: Pipeline, size: int = 600, radius: int = 2) -> np.ndarray:
    """Draw ``map_coordinates`` as dots on a white square, one colour per cluster.

    Parameters
    ----------
    pipeline : Pipeline
        A fitted pipeline.
    size : int, default=600
        Side of the picture in pixels.
    radius : int, default=2
        Radius of a dot (0: one pixel).

    Returns
    -------
    ndarray of shape (size, size, 3), uint8
        The first coordinate runs left to right, the second bottom to top, each over the whole square.

    Raises
    ------
    ValueError
        If ``size`` or ``radius`` is invalid.
    """
    size, radius = check_int("size", size), check_int("radius", radius, minimum=0)
    xy = map_coordinates(pipeline)
    low, span = xy.min(axis=0), np.maximum(np.ptp(xy, axis=0), 1e-12)
    room = max(size - 1 - 2 * radius, 0)
    x, y = np.rint(radius + (xy - low) / span * room).astype(int).T
    colours = _cluster_colours(pipeline.n_clusters_)[pipeline.labels_]
    canvas = np.full((size, size, 3), 255, np.uint8)
    # drawn in a fixed random order, so that no cluster is always drawn over the others
    for i in np.random.default_rng(0).permutation(len(xy)):
        cv2.circle(canvas, (int(x[i]), size - 1 - int(y[i])), radius, colours[i].tolist(), -1)
    return canvas


def _cluster_colours(n_clusters: int) -> np.ndarray:
    """``n_clusters`` RGB colours of hues evenly spaced around the colour wheel, shape (n_clusters, 3), uint8."""
    hues = (np.arange(n_clusters) * 180 // n_clusters).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, 220), np.full_like(hues, 220)], axis=-1)
    return cv2.cvtColor(hsv[np.newaxis], cv2.COLOR_HSV2RGB)[0]


def _fitted_images(pipeline: Pipeline, images: Sequence | np.ndarray | None) -> Sequence | np.ndarray:
    """The fitted images in ``codes_``'s order: ``images`` if given, else the files of ``paths_``."""
    check_is_fitted(pipeline, "codes_")
    if images is None:
        if pipeline.paths_ is None:
            raise ValueError("the pipeline was fitted on an array: pass that array as images=")
        return pipeline.paths_
    if len(images) != len(pipeline.codes_):
        raise ValueError(f"images= holds {len(images)} images, but the pipeline holds {len(pipeline.codes_)}")
    return images


def _picture(image, tile: int) -> np.ndarray:
    """One image (a path or an array) as RGB uint8, shrunk to ``tile`` if it has more pixels.

    Shrinking averages pixels (``resize``) where tile_grid's nearest neighbour would pick
    scattered ones; smaller images are left for tile_grid to enlarge with sharp pixels.
    """
    rgb = to_rgb_uint8(read_image(image))  # read_image's floats are uint8 / 255: converted back exactly
    return resize(rgb, tile) if rgb.shape[0] * rgb.shape[1] > tile * tile else rgb


def _wrapped_grid(pictures: list[np.ndarray], captions: list[str] | None, columns: int, tile: int, gap: int) -> np.ndarray:
    """``tile_grid`` of pictures (and their captions) in rows of ``columns``."""
    rows = [pictures[i : i + columns] for i in range(0, len(pictures), columns)]
    caption_rows = None if captions is None else [captions[i : i + columns] for i in range(0, len(captions), columns)]
    return tile_grid(rows, columns, tile=tile, gap=gap, captions=caption_rows)
