"""Every module imports on its own, in a fresh interpreter, and ``import cae_sim`` stays light."""

import pkgutil
import subprocess
import sys

import pytest

import cae_sim

MODULES = sorted(f"cae_sim.{info.name}" for info in pkgutil.iter_modules(cae_sim.__path__) if info.name != "__main__")


@pytest.mark.slow
def test_import_cae_sim_does_not_load_tensorflow_and_still_reaches_submodules():
    code = "import sys, cae_sim; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; cae_sim.index.ExactIndex, cae_sim.Pipeline"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_each_module_imports_first_without_a_cycle():
    runs = {module: subprocess.Popen([sys.executable, "-c", f"import {module}"], stderr=subprocess.PIPE, text=True) for module in MODULES}
    failed = {module: run.communicate()[1].strip().splitlines()[-1] for module, run in runs.items() if run.wait()}
    assert "cae_sim.store" in MODULES and not failed
