import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cae_sim import Pipeline
from cae_sim.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


@given(st.integers(1, 500), st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_a_log_file_gets_a_few_plain_lines_ending_at_the_total(total, steps):
    log = io.StringIO()
    progress = Progress(total, "reading", stream=log)
    for step in steps:
        progress.add(step, loss=0.5)
    lines = log.getvalue().splitlines()
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()
    assert len(lines) <= 5  # a quarter at a time, and the end
    counts = [int(line.split()[1].split("/")[0]) for line in lines]
    assert counts == sorted(counts) and all(count <= total for count in counts)
    if sum(steps) >= total:
        assert lines[-1].startswith(f"reading {total}/{total} [{'=' * 30}]") and "loss 0.5000" in lines[-1]


def test_a_terminal_gets_one_line_redrawn_in_place():
    screen = Terminal()
    progress = Progress(4, "encoding", stream=screen)
    for _ in range(4):
        progress.add(1)
    assert screen.getvalue().count("\r") == 4 and screen.getvalue().endswith("\n")
    assert screen.getvalue().count("\n") == 1 and "\x1b" not in screen.getvalue()


def test_closing_early_writes_the_last_line_once_and_nothing_after():
    for stream in (io.StringIO(), Terminal()):
        progress = Progress(10, "epoch 3/25", unit="batch", stream=stream)
        progress.add(3, loss=0.25)
        progress.close()
        written = stream.getvalue()
        last = written.replace("\r", "\n").splitlines()[-1]
        assert written.endswith("\n") and last.startswith(f"epoch 3/25 3/10 [{'=' * 9}{' ' * 21}]") and "loss 0.2500" in last
        progress.close()
        progress.add(1)
        assert stream.getvalue() == written


@pytest.mark.slow
def test_a_verbose_fit_reports_reading_and_epochs_on_stderr_without_escape_codes(capfd):
    images = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 3), dtype=np.uint8)
    Pipeline(encoder="cae", n_clusters=2, epochs=2, image_size=16, verbose=1, random_state=0).fit(images)
    out, err = capfd.readouterr()
    assert "reading 40/40" in err and "epoch 2/2" in err and "loss" in err
    assert "\x1b" not in out + err
