"""Operations on codes: (n_samples, d) float32 arrays, one row per image."""

from __future__ import annotations

import numpy as np


def l2_normalize(codes: np.ndarray) -> np.ndarray:
    """Scale each row to unit length; an all-zero row stays zero."""
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    return (codes / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32, copy=False)
