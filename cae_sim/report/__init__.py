"""A static HTML report of a fitted pipeline: one folder that opens from disk, with no server and no network.

``write_report(pipeline, "report/")`` writes::

    report/index.html     overview, a map of the codes, each cluster's central images and outliers,
                          near-duplicate groups, and an image panel with each image's nearest neighbours
    report/thumbs/<i>.jpg a small JPEG of the fitted image i (``paths_[i]``)

The page's style, script and data are inline, so the folder can be copied, zipped or opened anywhere.
"""

from .defaults import DEFAULT_NEIGHBORS, DEFAULT_PER_CLUSTER

__all__ = ["DEFAULT_NEIGHBORS", "DEFAULT_PER_CLUSTER", "write_report"]


def __getattr__(name: str):
    """``write_report``, imported on first use: the report command reads the defaults above while it parses its
    arguments, before anything heavy (Jinja, scikit-learn) loads."""
    if name == "write_report":
        from .page import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
