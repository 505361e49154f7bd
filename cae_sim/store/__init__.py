"""A collection of codes on disk for millions of images: ``CodeStore`` (see ``cae_sim.store.store``)."""

from .store import COMPRESSED_MIN_CODES, CodeStore, Stored, StoredImages, StoredMatch

__all__ = ["COMPRESSED_MIN_CODES", "CodeStore", "Stored", "StoredImages", "StoredMatch"]
