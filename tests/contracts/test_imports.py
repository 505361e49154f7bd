"""Every module imports on its own, in a fresh interpreter, and ``import cae_sim`` stays light."""

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import cae_sim

MODULES = sorted(info.name for info in pkgutil.walk_packages(cae_sim.__path__, "cae_sim.") if not info.name.endswith("__main__"))

# Imports each module named after the package first: the package's modules are forgotten before each (the third-party
# ones stay loaded, so one interpreter serves them all); prints {module: error} for those that failed.
EACH_FIRST = """
import importlib, json, sys
package, modules = sys.argv[1], sys.argv[2:]
failed = {}
for module in modules:
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    except Exception as error:
        failed[module] = f"{type(error).__name__}: {error}"
print(json.dumps(failed))
"""


def modules_failing_when_imported_first(package: str, modules: list[str], path: Path | None = None) -> dict[str, str]:
    """Each of ``modules`` that raises when it is the first of ``package`` imported, with its error."""
    environment = os.environ | ({"PYTHONPATH": str(path)} if path else {})
    result = subprocess.run([sys.executable, "-c", EACH_FIRST, package, *modules], capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_import_cae_sim_does_not_load_tensorflow_and_still_reaches_submodules():
    code = "import sys, cae_sim; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; cae_sim.index.ExactIndex, cae_sim.Pipeline"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_each_module_imports_first_without_a_cycle():
    assert {"cae_sim._json", "cae_sim.store.catalogue", "cae_sim.encoders.pretrained"} <= set(MODULES)
    assert modules_failing_when_imported_first("cae_sim", MODULES) == {}


def test_importing_each_module_first_finds_a_cycle(tmp_path):
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic.b import B\nA = 1\n")
    (package / "b.py").write_text("from cyclic.a import A\nB = 2\n")
    (package / "c.py").write_text("C = 3\n")
    failed = modules_failing_when_imported_first("cyclic", ["cyclic.a", "cyclic.b", "cyclic.c"], tmp_path)
    assert sorted(failed) == ["cyclic.a", "cyclic.b"] and "partially initialized module" in failed["cyclic.a"]


# --------------------------------------------------------------------------- the graph of module-level imports

PACKAGE_DIR = Path(cae_sim.__file__).parent


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, from its __init__.py)."""
    modules = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = ["cae_sim", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_statements(tree: ast.Module, in_functions: bool = False) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported (with ``in_functions``, also those in its
    functions), but not those under ``if TYPE_CHECKING``, which never run."""
    found, pending = [], list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
        elif in_functions or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return found


def imported_modules(module: str, is_package: bool, statement, modules) -> set[str]:
    """The package's modules one import statement runs: each target, and the packages above a target that are not
    above ``module`` (those are being imported already)."""
    if isinstance(statement, ast.Import):
        targets = [alias.name for alias in statement.names]
    else:
        base = statement.module or ""
        if statement.level:
            here = module.split(".") if is_package else module.split(".")[:-1]
            anchor = ".".join(here[: len(here) - statement.level + 1])
            base = f"{anchor}.{base}" if base else anchor
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in statement.names]
    found = set()
    for target in targets:
        if target not in modules:
            continue
        found.add(target)
        parts = target.split(".")
        found.update(parent for parent in (".".join(parts[:i]) for i in range(1, len(parts))) if not module.startswith(parent + "."))
    return found - {module}


def import_graph(in_functions: bool = False) -> dict[str, set[str]]:
    """Each module of the package and the package's modules its imports run (see ``import_statements``)."""
    modules = package_modules()
    graph = {}
    for module, path in modules.items():
        statements = import_statements(ast.parse(path.read_text(encoding="utf-8")), in_functions)
        is_package = path.name == "__init__.py"
        graph[module] = set().union(*(imported_modules(module, is_package, s, modules) for s in statements))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as the list of its modules (the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    return next((cycle for node in sorted(graph) if node not in state and (cycle := visit(node))), None)


def test_the_graph_finds_a_cycle_through_a_package_init():
    graph = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": {"p"}, "q": set()}
    assert find_cycle(graph) == ["p", "p.a", "p.b", "p"] and find_cycle({"p": {"p.a"}, "p.a": set()}) is None
    modules = {"cae_sim", "cae_sim.encoders", "cae_sim.encoders.members", "cae_sim._json", "cae_sim._registry"}
    relative = ast.parse("from . import ENCODERS\nfrom .members import x\nfrom .. import _registry").body
    assert imported_modules("cae_sim.encoders.base", False, relative[0], modules) == {"cae_sim.encoders"}
    assert imported_modules("cae_sim.encoders.base", False, relative[1], modules) == {"cae_sim.encoders.members"}
    assert imported_modules("cae_sim.encoders.base", False, relative[2], modules) == {"cae_sim._registry"}
    absolute = ast.parse("import cae_sim.encoders.members").body[0]
    assert imported_modules("cae_sim._json", False, absolute, modules) == {"cae_sim.encoders", "cae_sim.encoders.members"}
    hidden = ast.parse("def f():\n    import cae_sim.encoders\nif TYPE_CHECKING:\n    import cae_sim.codes\nclass C:\n    import cae_sim._registry")
    assert [ast.unparse(s) for s in import_statements(hidden)] == ["import cae_sim._registry"]
    assert sorted(ast.unparse(s) for s in import_statements(hidden, in_functions=True)) == ["import cae_sim._registry", "import cae_sim.encoders"]


@pytest.mark.parametrize("in_functions", [False, True], ids=["module level", "functions too"])
def test_no_cycle_among_the_imports_of_the_package(in_functions):
    """No module-level cycle, and none hidden by an import inside a function (a lazy import of a heavy module that
    does not import back is fine)."""
    graph = import_graph(in_functions)
    assert {"cae_sim._json", "cae_sim._registry"} <= graph["cae_sim.encoders.members"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.slow
def test_import_cae_sim_encoders_loads_no_keras_application():
    code = (
        "import sys, cae_sim.encoders as e; e.BACKBONES['vgg16'], e.ENCODERS['vgg16']; "
        "loaded = [m for m in sys.modules if m.startswith(('keras.applications', 'keras.src.applications'))]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_a_pipeline_loads_keras_only_when_its_encoder_is_used(tmp_path):
    code = (
        "import sys, numpy as np; from cae_sim import Pipeline; "
        "images = np.random.default_rng(0).integers(0, 255, (6, 16, 16, 3), dtype=np.uint8); "
        "Pipeline(encoder='dhash', n_clusters=2, random_state=0).fit(images).save(sys.argv[1]); "
        "loaded = Pipeline.load(sys.argv[1]); loaded.duplicates(); loaded.query(images[0]); "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras loaded'"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model")], check=True)


def test_no_test_module_imports_another():
    """A test module that imports another works only where pytest has put the other's folder on sys.path first: in
    a whole run, but not on its own (``pytest tests/unit/encoders``). Shared test code lives at the top of tests/."""
    tests = Path(__file__).parents[1]
    modules = {path.stem for path in tests.rglob("test_*.py")}
    found = {
        f"{path.relative_to(tests)}: {ast.unparse(statement)}"
        for path in tests.rglob("test_*.py")
        for statement in import_statements(ast.parse(path.read_text(encoding="utf-8")), in_functions=True)
        if {alias.name.split(".")[0] for alias in statement.names} & modules
        or (isinstance(statement, ast.ImportFrom) and (statement.module or "").split(".")[0] in modules)
    }
    assert "test_imports" in modules and not found, found
