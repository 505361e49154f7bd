"""The machinery every encoder shares: declared parameter checks, the input check, batched predict, the training loop."""

import inspect
import io
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import cae_sim.encoders  # noqa: F401  (imports every encoder class)
from cae_sim._checks import at_least, check_seed, none_or, one_of, satisfies, validate_params
from cae_sim.encoders.base import EarlyStopping, Encoder, check_images, predict_batches, train_epochs
from cae_sim.progress import Progress


def _encoder_classes() -> list[type[Encoder]]:
    """Every concrete Encoder class of the package."""
    found, todo = [], [Encoder]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not inspect.isabstract(cls) and cls.__module__.startswith("cae_sim."):
            found.append(cls)
    return sorted(set(found), key=lambda cls: cls.__name__)


ENCODER_CLASSES = _encoder_classes()


def test_the_package_has_the_encoders_this_file_checks():
    names = {cls.__name__ for cls in ENCODER_CLASSES}
    assert {"ConvAutoencoder", "FeatureMapAutoencoder", "ContrastiveEncoder", "PretrainedEncoder", "PHash", "DHash", "Ensemble"} <= names


@pytest.mark.parametrize("cls", ENCODER_CLASSES, ids=lambda cls: cls.__name__)
def test_every_encoder_declares_a_check_for_each_parameter(cls):
    assert set(cls._parameter_constraints) == set(cls._get_param_names())


@pytest.mark.parametrize("cls", [cls for cls in ENCODER_CLASSES if cls.__name__ != "Ensemble"], ids=lambda cls: cls.__name__)
def test_every_default_passes_its_own_check(cls):
    cls()._validate_params()


def test_a_bad_value_is_refused_naming_the_parameter_and_the_value():
    from cae_sim.encoders import ConvAutoencoder

    with pytest.raises(ValueError, match=r"code_size.*-4"):
        ConvAutoencoder(code_size=-4)._validate_params()
    with pytest.raises(ValueError, match=r"filters.*\(0, 2\)"):
        ConvAutoencoder(filters=(0, 2))._validate_params()


def test_a_loaded_encoder_is_checked_as_fit_checks_it(tmp_path):
    from cae_sim.encoders import ConvAutoencoder

    with pytest.raises(ValueError, match="patience"):
        ConvAutoencoder.load(tmp_path, {"patience": -1})


def test_an_undeclared_parameter_is_a_mistake_of_the_estimator():
    with pytest.raises(TypeError, match="extra"):
        validate_params({"a": at_least(1)}, {"a": 1, "extra": 2})


# --------------------------------------------------------------------------- the check factories


@given(st.integers(-5, 5), st.integers(-100, 100))
def test_at_least_refuses_smaller_ints_by_name_and_value(minimum, value):
    check = at_least(minimum)
    if value >= minimum:
        assert check("size", value) == value
    else:
        with pytest.raises(ValueError, match=rf"size must be an int >= {minimum}, got {value}"):
            check("size", value)


@pytest.mark.parametrize("value", [True, 2.0, "3", None])
def test_at_least_refuses_what_is_not_an_int(value):
    with pytest.raises(ValueError, match=rf"n must be an int >= 1, got {value!r}"):
        at_least(1)("n", value)


def test_none_or_lets_none_through_and_checks_the_rest():
    check = none_or(at_least(2))
    assert check("batch_size", None) is None and check("batch_size", 2) == 2
    with pytest.raises(ValueError, match="batch_size must be an int >= 2, got 1"):
        check("batch_size", 1)


def test_one_of_names_the_parameter_the_value_and_the_choices():
    with pytest.raises(ValueError, match=r"output must be one of \['concat', 'head'\], got 'both'"):
        one_of(("head", "concat"))("output", "both")
    with pytest.raises(ValueError, match=r"unknown backbone 'alexnet': model must be one of \['a', 'b'\]"):
        one_of({"a": 1, "b": 2}, what="backbone")("model", "alexnet")
    assert one_of(("head", "concat"))("output", "head") == "head"


def test_satisfies_and_check_seed():
    check = satisfies(lambda value: isinstance(value, str), "a layer name")
    assert check("layer", "pool") == "pool"
    with pytest.raises(ValueError, match="layer must be a layer name, got 3"):
        check("layer", 3)
    assert check_seed("random_state", None) is None and check_seed("random_state", 0) == 0
    with pytest.raises(ValueError, match="random_state must be an int >= 0, got -1"):
        check_seed("random_state", -1)


@pytest.mark.parametrize("value", [["efficientnet_lite0"], {"a": 1}])
def test_an_unhashable_value_is_refused_as_any_other(value):
    from cae_sim.encoders import FeatureMapAutoencoder, PretrainedEncoder

    with pytest.raises(ValueError, match="unknown pretrained model"):
        PretrainedEncoder(model=value)._validate_params()
    with pytest.raises(ValueError, match="backbone"):
        FeatureMapAutoencoder(backbone=value)._validate_params()
    with pytest.raises(ValueError, match="output must be one of"):
        one_of(("head", "concat"))("output", value)


# --------------------------------------------------------------------------- the input check


@given(
    st.integers(0, 3),
    st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 4)),
)
def test_check_images_accepts_exactly_enough_images_of_the_size(minimum, shape):
    images = np.zeros(shape, np.uint8)
    good = shape[1:] == (4, 4, 3) and shape[0] >= minimum
    if good:
        check_images(images, 4, minimum)
    else:
        with pytest.raises(ValueError, match=rf"\(N, 4, 4, 3\), got \({shape[0]}, {shape[1]}, {shape[2]}, {shape[3]}\)"):
            check_images(images, 4, minimum)


def test_check_images_names_a_bad_dtype_or_type():
    with pytest.raises(ValueError, match="dtype int16"):
        check_images(np.zeros((1, 4, 4, 3), np.int16), 4)
    with pytest.raises(ValueError, match="got list"):
        check_images([[0]], 4)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 4, 4, 3\), got \(4, 4, 3\)"):
        check_images(np.zeros((4, 4, 3), np.uint8), 4, minimum=0)
    check_images(np.zeros((1, 4, 4, 3), np.float32), 4)
    check_images(np.zeros((0, 4, 4, 3), np.uint8), 4, minimum=0)


# --------------------------------------------------------------------------- batched predict


@given(st.integers(1, 60), st.integers(1, 17), st.booleans(), st.randoms(use_true_random=False))
def test_predict_batches_gives_each_row_once_in_order_in_bounded_batches(n, batch_size, subset, random):
    images = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    positions = np.array(sorted(random.sample(range(n), random.randint(1, n)))) if subset else None
    calls = []

    def predict(batch):
        calls.append(len(batch))
        return batch * 2

    out = predict_batches(predict, images, batch_size, positions=positions)
    expected = images if positions is None else images[positions]
    np.testing.assert_array_equal(out, expected * 2)
    assert out.dtype == np.float32 and max(calls) <= batch_size and len(calls) == math.ceil(len(expected) / batch_size)


def test_predict_batches_advances_a_progress_bar_by_rows():
    log = io.StringIO()
    progress = Progress(10, "encoding", stream=log)
    predict_batches(lambda batch: batch, np.zeros((10, 1)), 4, progress=progress)
    assert progress.done == 10 and log.getvalue().splitlines()[-1].startswith("encoding 10/10")


# --------------------------------------------------------------------------- the training loop


class FakeModel:
    """Weights are one number: the epoch it was saved at."""

    def __init__(self):
        self.weights = [0]

    def get_weights(self):
        return list(self.weights)

    def set_weights(self, weights):
        self.weights = list(weights)


@given(
    st.integers(1, 50),
    st.integers(1, 12),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2**16),
)
def test_each_epoch_trains_every_position_once_in_seeded_shuffled_sorted_batches(n, batch_size, epochs, min_batch, seed):
    assume(batch_size >= min_batch and n >= min_batch)  # min_batch_size drops a short last batch, never a whole epoch
    positions = np.arange(100, 100 + n)

    def run():
        batches = []
        history = train_epochs(
            lambda batch: batches.append(batch) or 1.0,
            positions,
            epochs=epochs,
            batch_size=batch_size,
            rng=np.random.default_rng(seed),
            min_batch_size=min_batch,
        )
        return batches, history

    batches, history = run()
    again, _ = run()
    assert all(np.array_equal(a, b) for a, b in zip(batches, again)) and len(batches) == len(again)
    assert history == {"loss": [1.0] * epochs}
    per_epoch = len(batches) // epochs
    dropped = n % batch_size if 0 < n % batch_size < min_batch else 0
    for epoch in range(epochs):
        seen = np.concatenate(batches[epoch * per_epoch : (epoch + 1) * per_epoch])
        assert len(seen) == n - dropped and len(set(seen.tolist())) == len(seen) and set(seen.tolist()) <= set(positions.tolist())
    assert all(min_batch <= len(b) <= batch_size and np.all(np.diff(b) > 0) for b in batches)


def test_the_loss_of_an_epoch_weighs_each_batch_by_its_size():
    history = train_epochs(lambda batch: float(len(batch)), np.arange(5), epochs=1, batch_size=4, rng=np.random.default_rng(0))
    assert history["loss"] == [pytest.approx((4 * 4 + 1 * 1) / 5)]


def test_train_epochs_shuffles_the_positions_anew_every_epoch():
    batches = []
    train_epochs(lambda batch: batches.append(batch.tolist()) or 0.0, np.arange(40), epochs=3, batch_size=10,
                 rng=np.random.default_rng(0))
    epochs = [sorted(batches[i : i + 4]) for i in range(0, 12, 4)]
    assert epochs[0] != epochs[1] != epochs[2] and batches[0] != list(range(10))


def test_early_stopping_watches_the_validation_loss_and_restores_the_best_epoch():
    model, epoch = FakeModel(), iter(range(100))
    validation = iter([5.0, 3.0, 4.0, 4.5, 2.0])

    def step(batch):
        model.weights = [next(epoch)]
        return 1.0

    history = train_epochs(
        step, np.arange(4), epochs=10, batch_size=4, rng=np.random.default_rng(0),
        validation_loss=lambda: next(validation), stopping=EarlyStopping(model, patience=2),
    )
    assert history["val_loss"] == [5.0, 3.0, 4.0, 4.5] and len(history["loss"]) == 4  # two epochs without a lower loss
    assert model.weights == [1]  # the weights after the second epoch, the best


def test_early_stopping_keeps_the_last_weights_if_every_loss_is_nan():
    stopping = EarlyStopping(FakeModel(), patience=1)
    stopping.model.weights = [7]
    assert stopping.should_stop(float("nan"))
    stopping.restore()
    assert stopping.model.weights == [7]


def test_a_verbose_loop_draws_one_bar_and_a_quiet_one_nothing(capsys):
    train_epochs(lambda batch: 0.5, np.arange(8), epochs=3, batch_size=2, rng=np.random.default_rng(0), verbose=0)
    assert capsys.readouterr().err == ""
    model, losses = FakeModel(), iter([1.0, 2.0, 3.0])
    train_epochs(lambda batch: next(losses, 9.0), np.arange(2), epochs=5, batch_size=2, rng=np.random.default_rng(0),
                 stopping=EarlyStopping(model, patience=1), verbose=1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("training 2/5 [") and "epoch/s - loss 2.0000" in lines[-1]  # one batch an epoch; stopped early
    train_epochs(lambda batch: 0.5, np.arange(8), epochs=3, batch_size=2, rng=np.random.default_rng(0), verbose=1)
    assert capsys.readouterr().err.splitlines()[-1].startswith("epoch 3/3 12/12 [")  # 4 batches an epoch: they are counted


# --------------------------------------------------------------------------- fit_encode


class Doubler(Encoder):
    """A fake encoder that counts how many images its fit and encode see."""

    name = "doubler"
    _parameter_constraints = {}
    seen = 0

    def fit(self, images):
        self.fitted_ = True
        return self

    def encode(self, images):
        Doubler.seen += len(images)
        return images.reshape(len(images), -1).astype(np.float32) * 2

    def save(self, directory):
        """Nothing to save."""

    @classmethod
    def load(cls, directory, params):
        return cls()


def test_fit_encode_defaults_to_fit_then_encode():
    images = np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3)
    codes = Doubler().fit_encode(images)
    np.testing.assert_array_equal(codes, images.reshape(2, -1) * 2)
    assert Doubler.seen == 2
