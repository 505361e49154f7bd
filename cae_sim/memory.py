"""Process-wide memory-allocator settings for long TensorFlow runs.

The library never calls this on import or during a fit: it changes the whole
process, so programs opt in (the ``cae_sim`` commands and the experiments do).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
#: glibc's ceiling for the mmap threshold on 64-bit machines (HEAP_MAX_SIZE / 2).
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024


def tune_malloc() -> bool:
    """Keep TensorFlow's large per-batch buffers in the heap instead of mapping fresh pages for each batch.

    glibc serves blocks above its mmap threshold with freshly mapped pages and
    unmaps them on free, and trims the freed top of the heap; TensorFlow
    allocates its activations anew for every batch, so each batch page-faults
    through them again. This raises the threshold
    to its 32 MiB ceiling, pads and stops trimming the heap. Freed memory is
    then kept for reuse rather than given back to the system.

    Returns
    -------
    bool
        True where the settings took effect (glibc), False elsewhere (nothing changes).
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: musl, macOS, Windows
        return False
    settings = {_M_MMAP_THRESHOLD: MMAP_THRESHOLD_MAX, _M_TRIM_THRESHOLD: 2**30, _M_TOP_PAD: 256 * 1024 * 1024}
    return all(mallopt(param, value) == 1 for param, value in settings.items())
