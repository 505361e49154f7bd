"""Memory in one unit for experiments/: MB, 10**6 bytes (not MiB), from /proc/self/status and ``getrusage``.

Standard library only, so that a measured child process (``bench_store.py``'s) need not load what ``benchlib``
loads (TensorFlow); ``benchlib`` re-exports every name.
"""

from __future__ import annotations

import resource
import threading

#: The unit of every memory figure of experiments/: MB, 10**6 bytes.
MB = 10**6


def bytes_to_mb(n_bytes: float) -> float:
    """Bytes in MB (10**6 bytes)."""
    return n_bytes / MB


def kib_to_mb(kib: float) -> float:
    """kB of 1,024 bytes (/proc/self/status, ``ru_maxrss`` on Linux, GNU time's "kbytes") in MB (10**6 bytes)."""
    return kib * 1024 / MB


def proc_status_mb(*fields: str, status: str = "/proc/self/status") -> dict[str, float]:
    """Memory fields of a /proc status file (``VmRSS``, ``VmHWM``: the peak, ``RssAnon``, ...), in MB."""
    values = {}
    with open(status) as lines:
        for line in lines:
            name, _, rest = line.partition(":")
            if name in fields:
                values[name] = kib_to_mb(int(rest.split()[0]))
    missing = set(fields) - set(values)
    if missing:
        raise KeyError(f"{status} has no {', '.join(sorted(missing))}")
    return values


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or its peak so far (``VmHWM``), in MB."""
    return proc_status_mb(field)[field]


def max_rss_mb() -> float:
    """This process's lifetime peak RSS (``ru_maxrss``), in MB."""
    return kib_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class PeakRss:
    """Samples this process's RSS every ``interval`` seconds in a thread while the ``with`` block runs.

    ``peak_mb`` holds the highest sample (MB) after the block.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval

    def __enter__(self) -> "PeakRss":
        self.peak_mb, self._done = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())
