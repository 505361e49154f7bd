"""The newcomer walk: ``add --workers N`` prints what it added, not Dask's log.

The command's log handler showed every record that reached it, and Dask's ``distributed`` loggers pass their INFO
lines on: 33 lines of "Start Nanny at", "Register worker", "Lost all workers" on standard error.
"""

import shutil
import subprocess
import sys

import pytest

from cae_sim import Pipeline

pytestmark = pytest.mark.slow  # a command end to end, with a Dask cluster


def test_add_with_local_workers_prints_no_dask_lines(tmp_path, data_dir):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    for i, path in enumerate(sorted(data_dir.glob("*.jpg"))):
        shutil.copy(path, (first if i < 9 else second) / path.name)
    Pipeline(encoder="phash", n_clusters=2, random_state=0).fit(first).save(tmp_path / "m")
    result = subprocess.run([sys.executable, "-m", "cae_sim", "add", str(tmp_path / "m"), str(second), "--workers", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added:         3\n")
    assert result.stderr == ""
