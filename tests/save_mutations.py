"""Run by tests/contracts/test_save_safety.py in a child process with bounded memory: mutate a real save's manifest and
arrays (hypothesis draws the mutations), load and use each mutant, and fail on anything but an answer or a clear
``ValueError``/``OSError``.

    python tests/save_mutations.py SAVE_DIR WORK_DIR N_EXAMPLES
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim.persistence import MANIFEST
from cae_sim.persistence.manifest import describe_files

SAVE, WORK, EXAMPLES = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
ARRAYS = sorted(str(path.relative_to(SAVE)) for path in SAVE.rglob("*.npy"))
NUMBERS = st.one_of(st.integers(-2**62, 2**62), st.sampled_from([0, -1, 2**31, 2**40, 10**9]), st.floats(allow_nan=True))
VALUES = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6), st.lists(NUMBERS, max_size=3),
                   st.dictionaries(st.text(max_size=4), NUMBERS, max_size=2))


def leaves(value, path=()):
    """Every (path, value) of a JSON document, containers included."""
    yield path, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from leaves(item, (*path, key))


def mutate_manifest(root: Path, data) -> None:
    manifest = json.loads((root / MANIFEST).read_text())
    places = [path for path, _ in leaves(manifest) if path]
    path = data.draw(st.sampled_from(places))
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(VALUES)
    (root / MANIFEST).write_text(json.dumps(manifest))


def mutate_array(root: Path, data, consistent: bool) -> None:
    """Overwrite an array with other values, shape or dtype, or flip a byte of its file; with ``consistent``, the
    files table is made to match a well-formed array (a flipped byte may leave none)."""
    name = data.draw(st.sampled_from(ARRAYS))
    array = np.load(root / name)
    choice = data.draw(st.sampled_from(["values", "shape", "dtype", "bytes"]))
    if choice == "values":
        flat = array.reshape(-1).copy()
        if flat.size:
            flat[data.draw(st.integers(0, flat.size - 1))] = data.draw(NUMBERS) if flat.dtype.kind == "f" else data.draw(st.integers(-2**31, 2**31 - 1))
        np.save(root / name, flat.reshape(array.shape))
    elif choice == "shape":
        np.save(root / name, array.reshape(-1)[: data.draw(st.integers(0, array.size))])
    elif choice == "dtype":
        np.save(root / name, array.astype(data.draw(st.sampled_from([np.int8, np.float64, np.uint64, np.complex64]))))
    else:
        raw = bytearray((root / name).read_bytes())
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 0xFF
        (root / name).write_bytes(bytes(raw))
    if consistent and choice != "bytes":
        manifest = json.loads((root / MANIFEST).read_text())
        manifest["files"] = describe_files(root)
        (root / MANIFEST).write_text(json.dumps(manifest))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(data=st.data(), target=st.sampled_from(["manifest", "array", "consistent array"]))
def test_a_mutated_save_loads_and_answers_or_says_what_is_wrong(data, target):
    copy = WORK / uuid.uuid4().hex
    shutil.copytree(SAVE, copy)
    if target == "manifest":
        mutate_manifest(copy, data)
    else:
        mutate_array(copy, data, consistent=target == "consistent array")
    query = np.zeros((16, 16, 3), np.uint8)
    try:
        loaded = Pipeline.load(copy)
        loaded.duplicates()
        loaded.query(query, n=3)
        loaded.predict(query[np.newaxis])
    except (ValueError, OSError):
        pass  # a clear error; anything else fails
    finally:
        shutil.rmtree(copy)


if __name__ == "__main__":
    test_a_mutated_save_loads_and_answers_or_says_what_is_wrong()
    print("ok")
