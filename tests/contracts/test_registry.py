"""The registry: names, configs and objects, on a registry of its own and on every registry of the package."""

import json
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cae_sim._registry import REGISTRIES, Registry
from cae_sim.augment import AUGMENTS, Augment
from cae_sim.clustering import CLUSTERINGS, KMeansClustering, ManifoldClustering
from cae_sim.distances import DISTANCES, get_distance
from cae_sim.encoders import (
    BACKBONES, ENCODERS, ContrastiveEncoder, ConvAutoencoder, DHash, Ensemble, PHash, PretrainedEncoder, encoder_class,
)
from cae_sim.index import INDEXES, METRICS, ExactIndex, FaissIndex, NeighborIndex


class Thing:
    """A class with two keyword parameters, as the registry expects of a class it builds."""

    def __init__(self, size=1, shape="round"):
        self.size = size
        self.shape = shape

    def get_params(self, deep=False):
        return {"size": self.size, "shape": self.shape}


THINGS = Registry("test thing")
THINGS.register("thing")(Thing)
THINGS.register("big thing", partial(Thing, size=10))
THINGS.register("origin", (0, 0))


def test_a_registry_is_a_read_only_mapping_of_its_names():
    assert THINGS["thing"] is Thing and THINGS["origin"] == (0, 0) and "big thing" in THINGS and "nothing" not in THINGS
    assert list(THINGS) == ["thing", "big thing", "origin"] and len(THINGS) == 3
    assert THINGS.names() == ["big thing", "origin", "thing"]
    with pytest.raises(KeyError):
        THINGS["nothing"]
    with pytest.raises(TypeError):
        THINGS["new"] = Thing  # type: ignore[index]
    assert REGISTRIES["test thing"] is THINGS


def test_get_resolves_a_name_a_config_and_an_object():
    assert THINGS.get("thing") is Thing and THINGS.get("origin") == (0, 0)
    built = THINGS.get({"name": "big thing", "config": {"shape": "square"}})
    assert type(built) is Thing and built.get_params() == {"size": 10, "shape": "square"}
    thing = Thing(size=3)
    assert THINGS.get(thing) is thing and THINGS.get((0, 0)) == (0, 0)


@pytest.mark.parametrize("spec", ["nothing", 3, None, Augment(), (1, 1), Thing])
def test_anything_else_is_refused_naming_it_and_the_names(spec):
    with pytest.raises(ValueError, match=r"unknown test thing .*; choose one of: big thing, origin, thing$") as error:
        THINGS.get(spec)
    assert repr(spec)[:40] in str(error.value)
    assert THINGS.get(spec, None) is None


@pytest.mark.parametrize("name", ["thing", "", 3])
def test_a_name_is_registered_once_and_is_a_non_empty_str(name):
    with pytest.raises(ValueError, match="registered already|non-empty str"):
        THINGS.register(name, Thing)
    assert THINGS["thing"] is Thing and len(THINGS) == 3


def test_an_object_is_named_by_its_most_specific_preset():
    assert THINGS.name_of(Thing(size=10)) == "big thing" and THINGS.name_of(Thing(size=3)) == "thing"
    assert THINGS.get_config(Thing(size=10, shape="flat")) == {"name": "big thing", "config": {"size": 10, "shape": "flat"}}
    assert THINGS.get_config((0, 0)) == {"name": "origin", "config": {}}
    assert THINGS.name_of(3) is None and THINGS.name_of((1, 1)) is None


def test_an_object_of_no_registered_name_has_no_config():
    with pytest.raises(ValueError, match="int 3 is not a registered test thing; registered: big thing, origin, thing"):
        THINGS.get_config(3)
    with pytest.raises(ValueError, match="neither JSON-able nor registered"):
        THINGS.get_config(Thing(shape=object()))


@pytest.mark.parametrize(
    "config, message",
    [
        ("thing", "must be a dict"),
        ({"name": "thing"}, "must be a dict"),
        ({"name": "thing", "config": {}, "extra": 1}, "must be a dict"),
        ({"name": "thing", "config": []}, "must be a dict"),
        ({"name": 3, "config": {}}, "name must be a str, got 3"),
        ({"name": "nothing", "config": {}}, "unknown test thing 'nothing'"),
        ({"name": "thing", "config": {"colour": "red"}}, "bad config for test thing 'thing': .*colour"),
        ({"name": "big thing", "config": {"size": 3}}, "describes test thing 'thing', not 'big thing'"),
        ({"name": "origin", "config": {"x": 1}}, "test thing 'origin' takes no config"),
    ],
)
def test_a_bad_config_is_refused_by_name(config, message):
    with pytest.raises(ValueError, match=message):
        THINGS.from_config(config)


# --------------------------------------------------------------------------- the package's registries


def test_the_package_registries_hold_what_the_old_tables_did():
    assert {name for name, cls in ENCODERS.items() if cls is not PretrainedEncoder} == {"cae", "contrastive", "ensemble", "feature_cae", "phash", "dhash"}
    assert {name for name, cls in ENCODERS.items() if cls is PretrainedEncoder} == set(BACKBONES) >= {"efficientnet_lite0", "mobilenet_v2", "vgg16"}
    assert set(CLUSTERINGS) == {"kmeans", "manifold"} and set(DISTANCES) == set(METRICS) == {"cosine", "euclidean", "hamming"}
    assert set(INDEXES) == {"exact", "faiss-flat", "faiss-ivf", "faiss-ivfpq", "faiss-hnsw"}
    assert {"simclr", "degrade", "custom"} == set(AUGMENTS)
    assert set(REGISTRIES) >= {ENCODERS.kind, BACKBONES.kind, CLUSTERINGS.kind, INDEXES.kind, DISTANCES.kind, AUGMENTS.kind}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_each_index_name_builds_an_index_of_that_name(name):
    index = INDEXES[name](metric="euclidean")
    assert isinstance(index, NeighborIndex) and index.metric == "euclidean"
    assert INDEXES.get_config(index)["name"] == name and INDEXES.from_config(INDEXES.get_config(index)).get_params() == index.get_params()


def test_error_messages_read_the_registry():
    with pytest.raises(ValueError, match=r"unknown encoder 'nope'; choose one of: auto, cae, contrastive, convnext_tiny, .*, vgg19, xception$"):
        encoder_class("nope")
    with pytest.raises(ValueError, match=r"unknown clustering 'dbscan'; choose one of: kmeans, manifold$"):
        CLUSTERINGS.get("dbscan")
    with pytest.raises(ValueError, match=r"unknown index 'annoy'; choose one of: exact, faiss-flat, faiss-hnsw, faiss-ivf, faiss-ivfpq$"):
        INDEXES.get("annoy")
    with pytest.raises(ValueError, match=r"unknown pretrained model 'alexnet'; choose one of: convnext_tiny, "):
        BACKBONES.get("alexnet")


def test_an_encoder_that_names_itself_is_described_by_that_name():
    encoder = PretrainedEncoder(model="mobilenet_v2", layer="logits")
    config = ENCODERS.get_config(encoder)
    assert config["name"] == "mobilenet_v2" and config["config"]["layer"] == "logits"
    assert ENCODERS.from_config(config).get_params() == encoder.get_params()
    with pytest.raises(ValueError, match="describes encoder 'efficientnet_lite0', not 'mobilenet_v2'"):
        ENCODERS.from_config({"name": "mobilenet_v2", "config": {}})  # the model is a parameter: it must be given


def test_nested_encoders_and_policies_become_nested_configs():
    encoder = ContrastiveEncoder(backbone=Ensemble(encoders=[PHash(hash_size=4), "efficientnet_lite0"]), augment=Augment.preset("simclr", 3))
    config = ENCODERS.get_config(encoder)["config"]
    assert config["backbone"] == {
        "registry": "encoder", "name": "ensemble",
        "config": {"encoders": [{"registry": "encoder", "name": "phash", "config": {"hash_size": 4}}, "efficientnet_lite0"], "weights": None},
    }
    assert config["augment"]["registry"] == "augmentation preset" and config["augment"]["name"] == "simclr"
    assert config["augment"]["config"]["random_state"] == 3


# --------------------------------------------------------------------------- the config round trip of every entry


def default_object(registry: Registry, name: str):
    """The object a registered name stands for, with its default parameters."""
    if registry is ENCODERS and registry[name] is PretrainedEncoder:
        return PretrainedEncoder(model=name)
    return registry.from_config({"name": name, "config": {}})


DEFAULTS = st.sampled_from([(registry, name) for registry in (ENCODERS, BACKBONES, CLUSTERINGS, INDEXES, DISTANCES, AUGMENTS) for name in registry])
METRIC_SPECS = st.sampled_from([*METRICS, *(get_distance(name) for name in METRICS)])
AUGMENT_POLICIES = st.builds(
    Augment,
    crop=st.none() | st.tuples(st.floats(0.1, 0.5), st.floats(0.5, 1.0)),
    flip=st.booleans(),
    noise=st.floats(0, 1),
    jpeg=st.none() | st.tuples(st.integers(1, 50), st.integers(50, 100)),
    random_state=st.none() | st.integers(0, 2**31 - 1),
)
HASHES = st.builds(PHash, hash_size=st.integers(2, 16)) | st.builds(DHash, hash_size=st.integers(2, 16))
MEMBERS = st.lists(HASHES | st.sampled_from(["efficientnet_lite0", "mobilenet_v2"]), min_size=2, max_size=3)
PARAMETRISED = st.one_of(
    st.tuples(st.just(CLUSTERINGS), st.builds(
        KMeansClustering, n_clusters=st.just("auto") | st.integers(1, 50), k_range=st.tuples(st.integers(2, 5), st.integers(5, 30)),
        random_state=st.none() | st.integers(0, 100),
    )),
    st.tuples(st.just(CLUSTERINGS), st.builds(ManifoldClustering, n_components=st.integers(2, 20))),
    st.tuples(st.just(INDEXES), st.builds(ExactIndex, metric=METRIC_SPECS)),
    st.tuples(st.just(INDEXES), st.builds(
        FaissIndex, metric=METRIC_SPECS, kind=st.sampled_from(FaissIndex.KINDS), n_probe=st.integers(1, 128), pq_m=st.none() | st.integers(1, 64),
    )),
    st.tuples(st.just(AUGMENTS), AUGMENT_POLICIES),
    st.tuples(st.just(ENCODERS), HASHES),
    st.tuples(st.just(ENCODERS), st.builds(Ensemble, encoders=MEMBERS, weights=st.none() | st.lists(st.floats(0.1, 2), min_size=3, max_size=3))),
    st.tuples(st.just(ENCODERS), st.builds(
        ContrastiveEncoder, backbone=HASHES | st.sampled_from(["efficientnet_lite0", "mobilenet_v2"]),
        augment=AUGMENT_POLICIES | st.sampled_from(["simclr", "degrade", None]), views=st.integers(2, 8),
    )),
    st.tuples(st.just(ENCODERS), st.builds(ConvAutoencoder, code_size=st.integers(2, 64), filters=st.tuples(st.integers(4, 64), st.integers(4, 64)))),
)


def described(value):
    """A value with every object replaced by its class and parameters, recursively: equal for equal get_params."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value), {key: described(item) for key, item in value.get_params(deep=False).items()}
    if isinstance(value, (list, tuple)):
        return type(value), [described(item) for item in value]
    return value


@given(DEFAULTS.map(lambda pair: (pair[0], default_object(*pair))) | PARAMETRISED)
def test_every_registered_entry_round_trips_through_its_config_and_json(registry_and_object):
    registry, obj = registry_and_object
    config = registry.get_config(obj)
    assert set(config) == {"name", "config"} and registry.name_of(obj) == config["name"]
    assert described(registry.from_config(config)) == described(obj)  # the same get_params, tuples and nested objects too
    written = json.loads(json.dumps(config))  # JSON-able; tuples come back as lists
    assert registry.get_config(registry.from_config(written)) == written
