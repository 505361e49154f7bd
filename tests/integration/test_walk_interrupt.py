"""The newcomer walk: Ctrl-C stops a command with one line and status 130, not a 60-line traceback (``train``
stopped during its clustering printed scikit-learn's and SciPy's stack)."""

import signal
import subprocess
import sys

SCRIPT = """
import time
import cae_sim.cli.verify as command

def run(args):
    print("started", flush=True)
    time.sleep(120)

command.run = run
from cae_sim.cli import main
raise SystemExit(main(["verify", "."]))
"""


def test_ctrl_c_is_one_line_and_status_130(tmp_path):
    # SIGINT as a terminal leaves it: pytest-xdist's workers ignore it, and a child would inherit that
    reset = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=reset)
    try:
        assert process.stdout.readline() == "started\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err == "interrupted\n"
