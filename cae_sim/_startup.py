"""What the cae_sim commands do to their own process so that heavy runtimes start quietly (never the library itself).

Nothing heavy is imported here: a command that never needs TensorFlow (a query on a save whose encoder runs on
LiteRT, a mistyped path) never loads it. Import hooks quiet each runtime's start-up where it first loads.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from .memory import tune_malloc

#: The module whose interpreters ``prepare_command_process`` starts inside ``_stderr_silenced``.
LITERT_MODULE = "cae_sim.encoders.litert"

#: What runs a hooked module's code: ``load(module, exec_module)`` must call ``exec_module(module)``.
Load = Callable[[ModuleType, Callable[[ModuleType], None]], None]


def prepare_command_process() -> None:
    """Tune malloc, and quiet the start-up lines of TensorFlow and LiteRT, whenever they load.

    ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) hides TensorFlow's C++
    logs, but lines written before its logging starts (the CUDA stub's "Could
    not find cuda drivers", the CPU-feature notice) ignore it: the first import
    of ``tensorflow``, by anything, runs with standard error pointed at
    /dev/null, and looks for devices there too. LiteRT's interpreters start
    silenced as well (``cae_sim.encoders.litert.STARTUP``). Errors later in the
    run are shown as usual. Calling this again changes nothing.
    """
    tune_malloc()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _when_imported("tensorflow", _load_tensorflow_silenced)
    if LITERT_MODULE in sys.modules:
        _quiet_litert(sys.modules[LITERT_MODULE])
    else:
        _when_imported(LITERT_MODULE, _load_litert_silenced)


def _when_imported(name: str, load: Load) -> None:
    """Run the first import of the module ``name`` through ``load``; if it is imported already, do nothing.

    Parameters
    ----------
    name : str
        The module's full name.
    load : callable
        ``load(module, exec_module)``, which must call ``exec_module(module)``
        (the module's own code) and may do more around it.
    """
    if name in sys.modules or any(isinstance(f, _ImportHook) and f.name == name for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _ImportHook(name, load))


class _ImportHook(importlib.abc.MetaPathFinder):
    """A finder that hands the first import of one module to ``load``, then leaves ``sys.meta_path``.

    The module is found by the finders after this one; only its loader's
    ``exec_module`` is wrapped, and the module keeps its own loader.

    Parameters
    ----------
    name : str
        The module's full name.
    load : callable
        See ``_when_imported``.
    """

    def __init__(self, name: str, load: Load):
        self.name = name
        self.load = load

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        """Return the module's spec with its loading wrapped, for ``self.name`` only; remove this finder."""
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = _find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _HookedLoader(spec.loader, self.load)
        return spec


class _HookedLoader(importlib.abc.Loader):
    """A loader that runs its module through ``load``; the module's ``__loader__`` is the real one."""

    def __init__(self, loader: importlib.abc.Loader, load: Load):
        self._loader = loader
        self._load = load

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self._loader
        self._load(module, self._loader.exec_module)


def _find_spec(fullname: str, path: Sequence[str] | None, target: ModuleType | None) -> ModuleSpec | None:
    """The spec the finders of ``sys.meta_path`` give for a module, as the import system asks them."""
    for finder in list(sys.meta_path):
        find = getattr(finder, "find_spec", None)
        spec = None if find is None else find(fullname, path, target)
        if spec is not None:
            return spec
    return None


def _load_tensorflow_silenced(module: ModuleType, exec_module: Callable[[ModuleType], None]) -> None:
    """Run TensorFlow's import and its look for devices with standard error silenced."""
    with _stderr_silenced():
        exec_module(module)
        module.config.list_physical_devices()


def _load_litert_silenced(module: ModuleType, exec_module: Callable[[ModuleType], None]) -> None:
    """Import ``cae_sim.encoders.litert``, then quiet it."""
    exec_module(module)
    _quiet_litert(module)


def _quiet_litert(module: ModuleType) -> None:
    """Have the interpreters of ``cae_sim.encoders.litert`` start with standard error silenced."""
    module.STARTUP = _stderr_silenced


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
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
