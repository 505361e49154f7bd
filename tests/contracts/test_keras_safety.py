"""A save's Keras model cannot run code or read a file outside the save, whatever its config names.

Each payload is a saved encoder's ``.keras`` file with crafted layers added to its ``config.json``. It is loaded
in a child process of its own, twice (each child is forked from a process that imported Keras once, ``Zygote``: a
fresh interpreter per load would import TensorFlow 40 times):

- by Keras, as the encoders load it (``load_model(path, compile=False, safe_mode=True)``): a Keras release that
  runs or reads any payload fails here, and ``pyproject.toml``'s floor is the lowest release from which on every
  release passes (CI runs this file against the floor as well as the latest);
- by cae_sim, as the encoder of a save (``Pipeline.load(save).transform(images)``, which reads the model on
  first use): it must end in a ValueError naming the save and the file.

A payload that runs code creates ``MARKER`` outside the save; one that reads a file outside the save moves that
file's access time past its modification time (``relatime`` records the first read after a change).
"""

import base64
import json
import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from cae_sim import ConvAutoencoder, Pipeline
from cae_sim.persistence.manifest import MANIFEST, describe_files
from conftest import TINY, smooth_image

MODEL = "encoder/autoencoder.keras"
IMAGES = np.stack([smooth_image(i, 16, 16) for i in range(24)])
LOAD_WITH_KERAS = """
import json, sys
import keras
try:
    keras.models.load_model(sys.argv[1], compile=False, safe_mode=True)
    print(json.dumps(None))
except Exception as error:
    print(json.dumps([type(error).__name__, str(error)]))
"""
LOAD_WITH_CAE_SIM = """
import json, sys
import numpy as np
from cae_sim import Pipeline
try:
    Pipeline.load(sys.argv[1]).transform(np.zeros((2, 16, 16, 3), np.uint8))
    print(json.dumps(None))
except Exception as error:
    print(json.dumps([type(error).__name__, str(error)]))
"""


# --------------------------------------------------------------------------- the payloads


def touch_code(marker: Path) -> str:
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def function(module: str, name: str) -> dict:
    """The config of a function, as Keras serialises one."""
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def called(module: str, name: str, *args, **kwargs) -> dict:
    """A 'layer' that is any callable, called on ``args`` when Keras rebuilds the graph."""
    return {"module": module, "class_name": name, "config": {}, "registered_name": None, "name": name,
            "inbound_nodes": [{"args": list(args), "kwargs": kwargs}]}


def lambda_layer(name: str, fn: dict, inputs, **arguments) -> dict:
    """A Lambda layer calling ``fn(inputs, **arguments)`` when Keras rebuilds the graph."""
    return {"module": "keras.layers", "class_name": "Lambda", "registered_name": None, "name": name,
            "config": {"name": name, "trainable": True, "function": fn, "arguments": arguments},
            "inbound_nodes": [{"args": [], "kwargs": {"inputs": inputs}}]}


def marshalled(code: str) -> str:
    return base64.b64encode(marshal.dumps(eval(f"lambda x: ({code}, x)[1]").__code__)).decode()


def legacy_lambda(marker: Path, input_layer: str) -> dict:
    """A Lambda layer of marshalled code in the Keras 2 format (no module: Keras's legacy deserialisation)."""
    return {"class_name": "Lambda", "name": "legacy", "inbound_nodes": [[[input_layer, 0, 0, {}]]],
            "config": {"name": "legacy", "function": [marshalled(touch_code(marker)), None, None],
                       "function_type": "lambda", "output_shape": None, "arguments": {}}}


def vocabulary_layer(kind: str, vocabulary: list, path: Path) -> dict:
    """A lookup layer whose vocabulary is the file ``path`` (CVE-2025-12058)."""
    layer = keras.saving.serialize_keras_object(getattr(keras.layers, kind)(vocabulary=vocabulary, name="lookup"))
    layer["config"]["vocabulary"] = str(path)
    return layer | {"name": "lookup", "inbound_nodes": []}


def saved_model_layer(path: Path) -> dict:
    """A TFSMLayer reloading the TensorFlow SavedModel at ``path``."""
    layer = keras.saving.serialize_keras_object(keras.layers.TFSMLayer(str(path), call_endpoint="serving_default"))
    return layer | {"name": "savedmodel", "inbound_nodes": []}


def layers_payloads(outside: Path, input_layer: str) -> dict[str, list[dict]]:
    """Layers to add to a model's config, by payload name."""
    marker, command, code = outside / "MARKER", f"touch {outside / 'MARKER'}", touch_code(outside / "MARKER")
    safe_mode = function("keras.src.backend.common.global_state", "set_global_attribute")
    return {
        "os.system as a layer": [called("os", "system", command)],
        "subprocess.Popen as a layer": [called("subprocess", "Popen", command, shell=True)],
        "subprocess.getoutput as a layer": [called("subprocess", "getoutput", command)],
        "builtins.exec as a layer": [called("builtins", "exec", code)],
        "builtins.eval as a layer": [called("builtins", "eval", code)],
        "Lambda of os.system": [lambda_layer("payload", function("os", "system"), command)],
        "Lambda of subprocess.Popen": [lambda_layer("payload", function("subprocess", "Popen"), command, shell=True)],
        "Lambda of builtins.exec": [lambda_layer("payload", function("builtins", "exec"), code)],
        "Lambda of builtins.eval": [lambda_layer("payload", function("builtins", "eval"), code)],
        "Lambda of __import__": [lambda_layer("payload", function("builtins", "__import__"), "cae_sim_payload")],
        "Lambda of marshalled code": [lambda_layer("payload", {"class_name": "__lambda__", "config": {
            "value": marshalled(code)}}, 1.0)],
        "legacy Lambda of marshalled code": [legacy_lambda(marker, input_layer)],
        "Lambda of keras.utils.get_file (CVE-2025-8747)": [lambda_layer(
            "payload", function("keras.utils", "get_file"), marker.name, origin=(outside / "secret.txt").as_uri(),
            cache_dir=str(outside), cache_subdir=".")],
        "Lambda of load_model(safe_mode=False)": [lambda_layer(
            "payload", function("keras.models", "load_model"), str(outside / "inner.keras"), safe_mode=False)],
        "Lambdas turning safe mode off, then loading code (CVE-2025-9906)": [
            lambda_layer("off", safe_mode, "safe_mode_saving", value=False),
            lambda_layer("payload", function("keras.models", "load_model"), str(outside / "inner.keras"))],
        "StringLookup of a file": [vocabulary_layer("StringLookup", ["a"], outside / "secret.txt")],
        "IntegerLookup of a file": [vocabulary_layer("IntegerLookup", [1], outside / "numbers.txt")],
        "TextVectorization of a file": [vocabulary_layer("TextVectorization", ["a"], outside / "secret.txt")],
        "TFSMLayer of a SavedModel": [saved_model_layer(outside / "savedmodel")],
    }


def external_weights(weights: bytes, outside: Path) -> bytes:
    """``model.weights.h5`` with the first kernel stored in a file outside the archive (an HDF5 external dataset)."""
    path = outside / "weights.h5"
    path.write_bytes(weights)
    with h5py.File(path, "r+") as file:
        names = []
        file.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        dataset = file[names[0]]
        shape, dtype, size = dataset.shape, dataset.dtype, dataset.size * dataset.dtype.itemsize
        del file[names[0]]
        file.create_dataset(names[0], shape, dtype, external=[(str(outside / "weights.bin"), 0, size)])
    data = path.read_bytes()
    path.unlink()
    return data


def write_outside_files(outside: Path) -> None:
    """The files the payloads run or read: none is inside a save."""
    outside.mkdir()
    (outside / "secret.txt").write_text("alpha\nbeta\n")
    (outside / "numbers.txt").write_text("7\n8\n")
    (outside / "weights.bin").write_bytes(np.zeros(1 << 16, np.float32).tobytes())
    (outside / "cae_sim_payload.py").write_text(touch_code(outside / "MARKER") + "\n")
    inputs = keras.Input((1,))  # a model whose Lambda layer runs the payload: building it here runs it once
    layer = keras.layers.Lambda(eval(f"lambda x: ({touch_code(outside / 'MARKER')}, x)[1]"))
    keras.Model(inputs, layer(inputs)).save(outside / "inner.keras")

    class Identity(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, x):
            return x

    module = Identity()
    tf.saved_model.save(module, str(outside / "savedmodel"), signatures={"serving_default": module.serve})


def write_model(path: Path, parts: dict[str, bytes]) -> None:
    """A ``.keras`` file of these members, stored as Keras stores them."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def payload_models(model: Path, outside: Path) -> dict[str, dict[str, bytes]]:
    """The members of each payload's ``.keras`` file: ``model``'s, with crafted layers or weights."""
    with zipfile.ZipFile(model) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    crafted = {}
    for name, layers in layers_payloads(outside, config["config"]["input_layers"][0][0]).items():
        changed = json.loads(parts["config.json"])
        changed["config"]["layers"] += layers
        crafted[name] = parts | {"config.json": json.dumps(changed).encode()}
    crafted["weights in an HDF5 external dataset"] = parts | {
        "model.weights.h5": external_weights(parts["model.weights.h5"], outside)}
    return crafted


# --------------------------------------------------------------------------- fixtures and the child process


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A real save, the files outside it, and each payload's ``.keras`` file (by name)."""
    root = tmp_path_factory.mktemp("keras_safety")
    encoder = ConvAutoencoder(**{**TINY, "epochs": 1})
    Pipeline(encoder=encoder, n_clusters=2, index="exact", random_state=0).fit(IMAGES).save(root / "save")
    write_outside_files(root / "outside")
    payloads = {}
    for number, (name, parts) in enumerate(payload_models(root / "save" / MODEL, root / "outside").items()):
        payloads[name] = root / "payloads" / f"{number}.keras"
        payloads[name].parent.mkdir(exist_ok=True)
        write_model(payloads[name], parts)
    return root, payloads


#: Started once per script: it imports what the script imports (and Keras, which both load), then forks a fresh
#: child per load, so that each payload runs in a process of its own without paying TensorFlow's import each time.
ZYGOTE = """
import json, os, signal, sys
preload = json.loads(sys.argv[1])
for module in preload:
    __import__(module)
print("ready", flush=True)
for line in sys.stdin:
    script, path, output = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            signal.alarm(300)
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.argv = ["-c", path]
            exec(compile(script, "<child>", "exec"), {"__name__": "__main__"})
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
    print(json.dumps(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])), flush=True)
"""


class Zygote:
    """A process that has imported ``preload`` and runs each script in a child forked from it (``ZYGOTE``)."""

    def __init__(self, preload: list[str], outside: Path):
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(outside), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen([sys.executable, "-c", ZYGOTE, json.dumps(preload)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=outside.parent)
        self.output = outside.parent / f"zygote-{self.process.pid}.out"
        assert self.process.stdout.readline().strip() == "ready"

    def run(self, script: str, path: Path) -> subprocess.CompletedProcess:
        self.process.stdin.write(json.dumps([script, str(path), str(self.output)]) + "\n")
        self.process.stdin.flush()
        returncode = json.loads(self.process.stdout.readline())
        text = self.output.read_text()
        self.output.unlink()
        return subprocess.CompletedProcess([], returncode, stdout=text, stderr=text)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def run_child(script: str, path: Path, outside: Path, zygote: Zygote | None = None):
    """Run ``script`` on ``path`` in a child process; return its outcome and whether it ran or read a payload.

    Returns
    -------
    outcome : None or [str, str]
        None if the load succeeded, else the exception's type and message.
    ran : bool
        Whether ``outside/MARKER`` was created.
    read : list of str
        The files of ``outside`` read during the run.
    """
    (outside / "MARKER").unlink(missing_ok=True)
    files = [p for p in outside.rglob("*") if p.is_file()]
    for file in files:  # access time before modification time: relatime records the next read
        info = file.stat()
        os.utime(file, ns=(info.st_mtime_ns - 10**11, info.st_mtime_ns))
    if zygote is None:
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(outside), os.environ.get("PYTHONPATH", "")])}
        result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env,
                                cwd=outside.parent, timeout=300)
    else:
        result = zygote.run(script, path)
    assert result.returncode == 0, result.stderr[-3000:]
    read = [str(file.relative_to(outside)) for file in files if file.stat().st_atime_ns > file.stat().st_mtime_ns]
    return json.loads(result.stdout.strip().splitlines()[-1]), (outside / "MARKER").exists(), read


def test_reads_outside_are_seen(tmp_path):
    """The check of the tests below: this file system records a read (it is not mounted ``noatime``)."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "file").write_text("text")
    script = "import sys, pathlib; pathlib.Path(sys.argv[1]).read_text(); print('null')"
    assert run_child(script, tmp_path / "outside" / "file", tmp_path / "outside") == (None, False, ["file"])


PAYLOADS = [
    "os.system as a layer",
    "subprocess.Popen as a layer",
    "subprocess.getoutput as a layer",
    "builtins.exec as a layer",
    "builtins.eval as a layer",
    "Lambda of os.system",
    "Lambda of subprocess.Popen",
    "Lambda of builtins.exec",
    "Lambda of builtins.eval",
    "Lambda of __import__",
    "Lambda of marshalled code",
    "legacy Lambda of marshalled code",
    "Lambda of keras.utils.get_file (CVE-2025-8747)",
    "Lambda of load_model(safe_mode=False)",
    "Lambdas turning safe mode off, then loading code (CVE-2025-9906)",
    "StringLookup of a file",
    "IntegerLookup of a file",
    "TextVectorization of a file",
    "TFSMLayer of a SavedModel",
    "weights in an HDF5 external dataset",
]


@pytest.fixture(scope="module")
def keras_loader(world):
    """Loads each payload as the encoders do, with Keras alone (``LOAD_WITH_KERAS``)."""
    zygote = Zygote(["json", "keras"], world[0] / "outside")
    yield zygote
    zygote.close()


@pytest.fixture(scope="module")
def cae_sim_loader(world):
    """Loads each save as a user does, with cae_sim (``LOAD_WITH_CAE_SIM``); Keras is imported in advance, as the
    load would import it."""
    zygote = Zygote(["json", "numpy", "cae_sim", "keras"], world[0] / "outside")
    yield zygote
    zygote.close()


@pytest.mark.slow
def test_every_payload_is_crafted(world):
    assert sorted(world[1]) == sorted(PAYLOADS)


@pytest.mark.slow
@pytest.mark.parametrize("payload", PAYLOADS)
def test_keras_safe_mode_refuses_the_payload(world, keras_loader, payload):
    root, payloads = world
    outcome, ran, read = run_child(LOAD_WITH_KERAS, payloads[payload], root / "outside", keras_loader)
    assert not ran, f"Keras {keras.__version__} ran the payload"
    assert not read, f"Keras {keras.__version__} read {read} outside the model"
    assert outcome is not None, f"Keras {keras.__version__} loaded the model"


@pytest.mark.slow
@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_save_with_the_payload_fails_to_load_by_name(world, cae_sim_loader, payload, tmp_path):
    root, payloads = world
    save = tmp_path / "save"
    shutil.copytree(root / "save", save)
    shutil.copyfile(payloads[payload], save / MODEL)
    manifest = json.loads((save / MANIFEST).read_text())
    manifest["files"] = describe_files(save)
    (save / MANIFEST).write_text(json.dumps(manifest))
    outcome, ran, read = run_child(LOAD_WITH_CAE_SIM, save, root / "outside", cae_sim_loader)
    assert not ran and not read
    assert outcome[0] == "ValueError" and str(save) in outcome[1] and MODEL.split("/")[1] in outcome[1], outcome
