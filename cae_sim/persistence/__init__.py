"""Saves: a directory with a JSON manifest, ``.npy`` arrays and the encoder's files; no pickle.

- ``manifest``: the format, the files table and its checks (cheap on load, every byte in ``verify``);
- ``migrations``: older formats read into the current one, explicitly;
- ``pipelines``: writing and reading a pipeline's Model and Collection, ``verify_save``, ``relocate_save``.
"""

from .manifest import FORMAT, MANIFEST, VERSION
from .migrations import RelativePathsWarning
from .pipelines import checked_save, load_encoder, load_pipeline, relocate_save, save_pipeline, verify_save

__all__ = [
    "FORMAT", "MANIFEST", "VERSION", "RelativePathsWarning", "checked_save", "load_encoder", "load_pipeline",
    "relocate_save", "save_pipeline", "verify_save",
]
