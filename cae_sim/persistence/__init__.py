"""Saves: a directory with a JSON manifest, ``.npy`` arrays and the encoder's files; no pickle.

- ``manifest``: the format, the files table and its checks (cheap on load, every byte in ``verify``);
- ``migrations``: older formats read into the current one, explicitly;
- ``locking``: one writer at a time (``writing``), and recovery of a swap a crash interrupted (``recover``);
- ``pipelines``: writing and reading a pipeline's Model and Collection, ``verify_save``, ``relocate_save``.
"""

from .locking import LOCK_TIMEOUT, lock_file, recover, writing
from .manifest import FORMAT, MANIFEST, VERSION
from .migrations import RelativePathsWarning
from .pipelines import checked_save, load_encoder, load_pipeline, relocate_save, save_pipeline, verify_save

__all__ = [
    "FORMAT", "LOCK_TIMEOUT", "MANIFEST", "VERSION", "RelativePathsWarning", "checked_save", "load_encoder",
    "load_pipeline", "lock_file", "recover", "relocate_save", "save_pipeline", "verify_save", "writing",
]
