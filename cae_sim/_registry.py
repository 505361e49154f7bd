"""One registration mechanism for every family of named parts, and the registries themselves.

A registry maps names to entries of three sorts:

- a class: ``@ENCODERS.register("cae")`` above ``class ConvAutoencoder``;
- a preset of a class, ``functools.partial(cls, **parameters)``: ``"faiss-ivf"`` is a ``FaissIndex`` with ``kind="IVF"``;
- plain data, registered as it is: a backbone's description, a distance object.

Classes and presets build objects; ``get_config`` describes an object as ``{"name": ..., "config": {...}}`` (its
``get_params``, JSON-able, nested registered objects described in turn) and ``from_config`` builds it again.

Each registry is defined here, so that any module can register into it or read it without importing another
family's modules, and is filled by the module that defines its entries: read a registry through that module
(``cae_sim.encoders.ENCODERS``, ``cae_sim.index.INDEXES``, ...), which is complete once imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np

#: The key naming the registry of a nested object's config: ``{"registry": "encoder", "name": ..., "config": ...}``.
REGISTRY_KEY = "registry"

_NOTHING = object()


class Registry(Mapping[str, Any]):
    """Entries of one kind by name; read-only as a mapping (``REG[name]``, ``name in REG``, iteration in the order
    of registration).

    >>> @INDEXES.register("exact")                                          # doctest: +SKIP
    ... class ExactIndex(NeighborIndex): ...
    >>> INDEXES.register("faiss-ivf", partial(FaissIndex, kind="IVF"))      # doctest: +SKIP
    >>> INDEXES.get_config(INDEXES["faiss-ivf"](metric="cosine"))           # doctest: +SKIP
    {'name': 'faiss-ivf', 'config': {'metric': 'cosine', 'kind': 'IVF', ...}}

    Parameters
    ----------
    kind : str
        What an entry is, as error messages say it (``"encoder"``: "unknown encoder 'x'; choose one of: ...").
    """

    def __init__(self, kind: str):
        if kind in REGISTRIES:
            raise ValueError(f"a registry of kind {kind!r} exists already")
        self.kind = kind
        self._entries: dict[str, Any] = {}
        REGISTRIES[kind] = self

    def register(self, name: str, entry: Any = _NOTHING):
        """Register ``entry`` under ``name`` and return it; without ``entry``, return a class decorator that does.

        Parameters
        ----------
        name : str
            The name to register under.
        entry : class, functools.partial of a class, or any object, optional
            What ``name`` stands for; a partial is a preset of its class.

        Returns
        -------
        The entry, or a decorator ``(cls) -> cls``.

        Raises
        ------
        ValueError
            If ``name`` is not a non-empty str or is registered already.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty str, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered already, as {self._entries[name]!r}")
        if entry is _NOTHING:
            return partial(self.register, name)
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> Any:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def get(self, spec: Any, default: Any = _NOTHING) -> Any:
        """Resolve a name, a config or an object to a registered entry or an object.

        Parameters
        ----------
        spec : str, dict or object
            A name: its entry (a class, a preset or the data). A config ``{"name": ..., "config": {...}}``: a new
            object built by ``from_config``. An object this registry describes (``name_of``): the object itself,
            not a copy (``sklearn.base.clone`` makes an unfitted one).
        default : optional
            Returned instead of raising where ``spec`` is neither a registered name nor a registered object.

        Returns
        -------
        The entry or object.

        Raises
        ------
        ValueError
            If ``spec`` is none of those and no ``default`` is given, naming ``spec`` and the registered names; or if
            a config is bad (see ``from_config``).
        """
        if isinstance(spec, str):
            if spec in self._entries:
                return self._entries[spec]
        elif isinstance(spec, Mapping):
            return self.from_config(spec)
        elif self.name_of(spec) is not None:
            return spec
        if default is not _NOTHING:
            return default
        raise ValueError(f"unknown {self.kind} {spec!r:.200}; choose one of: {', '.join(self.names())}")

    def name_of(self, obj: Any) -> str | None:
        """The name that describes ``obj``, or None if none does.

        An object is described by the entries of its exact class and by the presets of that class whose parameters
        it has; data by an equal entry. Of several names, the one the object gives as its ``name`` attribute wins
        (an encoder names itself), else the preset with the most parameters.
        """
        candidates = [name for name, entry in self._entries.items() if _describes(entry, obj)]
        if not candidates:
            return None
        if getattr(obj, "name", None) in candidates:
            return obj.name
        return max(candidates, key=lambda name: len(_preset(self._entries[name])))

    def get_config(self, obj: Any) -> dict:
        """Describe ``obj`` as ``{"name": str, "config": dict}``, JSON-able; ``from_config`` builds it again.

        The config is ``obj.get_params(deep=False)`` (empty for data), with registered objects among the values
        described as ``{"registry": kind, "name": ..., "config": ...}``, NumPy values as Python ones and paths as
        str.

        Raises
        ------
        ValueError
            If no registered name describes ``obj``, or a parameter value is not JSON-able.
        """
        name = self.name_of(obj)
        if name is None:
            raise ValueError(f"{type(obj).__name__} {obj!r:.200} is not a registered {self.kind}; registered: {', '.join(self.names())}")
        if _builder(self._entries[name]) is None:
            return {"name": name, "config": {}}
        return {"name": name, "config": {key: _encode(value) for key, value in obj.get_params(deep=False).items()}}

    def from_config(self, config: Mapping) -> Any:
        """Build the object ``config`` (``get_config``'s output, also after a JSON round trip) describes.

        Raises
        ------
        ValueError
            If ``config`` is not ``{"name": str, "config": dict}``, names no registered entry, has parameters the
            entry does not take, or describes an object of another name (``{"name": "faiss-ivf", "config":
            {"kind": "HNSW"}}``).
        """
        if not isinstance(config, Mapping) or set(config) != {"name", "config"} or not isinstance(config["config"], Mapping):
            raise ValueError(f"a {self.kind} config must be a dict {{'name': str, 'config': dict}}, got {config!r:.200}")
        name = config["name"]
        if not isinstance(name, str):
            raise ValueError(f"a {self.kind} config's name must be a str, got {name!r:.200}")
        entry = self.get(name)
        params = {key: _decode(value) for key, value in config["config"].items()}
        if _builder(entry) is None:
            if params:
                raise ValueError(f"{self.kind} {name!r} takes no config, got {params!r:.200}")
            return entry
        try:
            obj = entry(**params)
        except TypeError as error:  # __init__ only stores its keywords: a TypeError is an unknown one
            raise ValueError(f"bad config for {self.kind} {name!r}: {error}") from None
        if self.name_of(obj) != name:
            raise ValueError(f"config {dict(config['config'])!r:.200} describes {self.kind} {self.name_of(obj)!r}, not {name!r}")
        return obj


#: Every registry by its kind, for configs nested in configs.
REGISTRIES: dict[str, Registry] = {}

#: Encoder classes by the name ``Pipeline(encoder=...)`` takes (filled by ``cae_sim.encoders``).
ENCODERS = Registry("encoder")
#: The ImageNet CNNs encoders stand on, as data (filled by ``cae_sim.encoders.backbones``).
BACKBONES = Registry("pretrained model")
#: Clustering classes by the name ``Pipeline(clustering=...)`` takes (filled by ``cae_sim.clustering``).
CLUSTERINGS = Registry("clustering")
#: Neighbour indexes by the name ``Pipeline(index=...)`` takes (filled by ``cae_sim.index``).
INDEXES = Registry("index")
#: Distance objects by the name ``metric=`` takes (filled by ``cae_sim.distances``).
DISTANCES = Registry("metric")
#: Augmentation policies: the presets and the plain policy (filled by ``cae_sim.augment``).
AUGMENTS = Registry("augmentation preset")


def _builder(entry: Any) -> Callable | None:
    """The class an entry builds objects of, or None for data."""
    if isinstance(entry, type):
        return entry
    if isinstance(entry, partial) and isinstance(entry.func, type):
        return entry.func
    return None


def _preset(entry: Any) -> dict:
    """The parameters a preset fixes (none for a class or data)."""
    return entry.keywords if isinstance(entry, partial) else {}


def _describes(entry: Any, obj: Any) -> bool:
    builder = _builder(entry)
    if builder is None:
        return type(obj) is type(entry) and (obj is entry or obj == entry)
    if type(obj) is not builder:
        return False
    return all(hasattr(obj, key) and _same(getattr(obj, key), value) for key, value in _preset(entry).items())


def _same(a: Any, b: Any) -> bool:
    """Whether two parameter values are equal as JSON holds them (a tuple as the list it is written as)."""
    return json.loads(json.dumps(_encode(a))) == json.loads(json.dumps(_encode(b)))


def _encode(value: Any) -> Any:
    """A parameter value as JSON can hold it; tuples stay tuples (JSON writes them as lists)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_encode(item) for item in value)
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: _encode(item) for key, item in value.items()}
    for registry in REGISTRIES.values():
        if registry.name_of(value) is not None:
            return {REGISTRY_KEY: registry.kind, **registry.get_config(value)}
    raise ValueError(f"a parameter value {value!r:.200} of type {type(value).__name__} is neither JSON-able nor registered")


def _decode(value: Any) -> Any:
    """The inverse of ``_encode``: nested configs become objects again."""
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_decode(item) for item in value)
    if not isinstance(value, Mapping):
        return value
    if set(value) == {REGISTRY_KEY, "name", "config"}:
        kind = value[REGISTRY_KEY]
        if kind not in REGISTRIES:
            raise ValueError(f"a nested config names no registry: {kind!r:.200}; registries: {', '.join(sorted(REGISTRIES))}")
        return REGISTRIES[kind].from_config({"name": value["name"], "config": value["config"]})
    return {key: _decode(item) for key, item in value.items()}
