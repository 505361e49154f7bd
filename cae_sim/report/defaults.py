"""Defaults of ``write_report`` and of the ``report`` command, in a module that imports nothing."""

#: Most central images shown per cluster.
DEFAULT_PER_CLUSTER = 24
#: Nearest images listed for each image.
DEFAULT_NEIGHBORS = 8
