"""A CodeStore killed (SIGKILL) in the middle of ``add`` loses nothing that ``add`` reported added."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cae_sim.store import CodeStore

WIDTH = 32
BATCH = 3000

#: A child that adds batches of known codes forever, printing the ids of each batch once ``add`` returned.
ADDER = f"""
import sys
import numpy as np
from cae_sim.store import CodeStore

store = CodeStore.open(sys.argv[1])
batch = int(sys.argv[2])
while True:
    codes = np.random.default_rng(batch).standard_normal(({BATCH}, {WIDTH})).astype(np.float32)
    stored = store.add(codes, [f"/photos/{{batch}}/{{i}}.jpg" for i in range({BATCH})])
    print(batch, stored.ids[0], stored.ids[-1], flush=True)
    batch += 1
"""


def batch_codes(batch: int) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((BATCH, WIDTH)).astype(np.float32)


def add_until_killed(folder, first_batch: int, delay: float) -> list[tuple[int, int, int]]:
    """Run the adding child, kill it ``delay`` seconds after its first report; return (batch, first id, last id)
    of each batch it reported."""
    child = subprocess.Popen([sys.executable, "-c", ADDER, str(folder), str(first_batch)], stdout=subprocess.PIPE, text=True)
    reported = [child.stdout.readline()]
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate()
    lines = [line for line in reported + out.splitlines() if line.strip()]
    return [tuple(int(value) for value in line.split()) for line in lines]


@pytest.mark.slow
def test_sigkill_during_add_loses_nothing_reported(tmp_path):
    folder = tmp_path / "store"
    CodeStore.create(folder, WIDTH, segment_rows=700).close()  # several segment files per add: kills land between them
    reported, batch = [], 0
    for delay in (0.0, 0.05, 0.13, 0.31):
        runs = add_until_killed(folder, batch, delay)
        assert runs, "the child reported no batch"
        reported += runs
        batch = runs[-1][0] + 100  # the next child's batches are new ones, whatever the killed one half wrote

    with CodeStore.open(folder) as store:
        for number, first, last in reported:
            ids = np.arange(first, last + 1)
            assert np.array_equal(store.codes(ids), batch_codes(number))
            assert store.paths(ids[[0, -1]]) == [f"/photos/{number}/0.jpg", f"/photos/{number}/{BATCH - 1}.jpg"]
        listed = {segment.number for segment in store.catalogue.segments()}
        assert len(store) == sum(segment.rows for segment in store.catalogue.segments())  # every row is listed once
        ids, _ = store.labels()
        assert len(ids) == len(np.unique(ids)) == len(store)
        store.add(batch_codes(10_000)[:1], ["/photos/after.jpg"])  # the next writer clears what the kills left
        files = {int(path.name.split(".")[0]) for path in store.files.folder.iterdir()}
        assert files == listed | {store.catalogue.segments()[-1].number}
        assert not list(store.files.folder.glob("*.tmp"))
