"""What the cae_sim commands do to their own process before they load TensorFlow (never the library itself)."""

from __future__ import annotations

import contextlib
import os
import sys

from .memory import tune_malloc


def prepare_command_process() -> None:
    """Tune malloc, and load TensorFlow with its start-up lines silenced.

    ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) hides TensorFlow's C++
    logs, but lines written before its logging starts (the CUDA stub's "Could
    not find cuda drivers", the CPU-feature notice) ignore it: standard error
    points at /dev/null while TensorFlow loads and looks for devices. Errors
    later in the run are shown as usual.
    """
    tune_malloc()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices()


@contextlib.contextmanager
def _stderr_silenced():
    """Point file descriptor 2 (C and Python writes alike) at /dev/null, then back."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
