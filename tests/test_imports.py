"""The import structure: no cycle among refgan's modules, and their imports at the top.

The module graph is read from the source with ``ast`` (nothing is imported): an edge
A -> B for every ``import``/``from ... import`` in A that names B, at the top of the
file or inside a function alike (an import deferred into a function still closes a
cycle, it only hides it). ``from refgan import ops`` names the module ``refgan.ops``;
``from refgan.ops import conv2d`` names the package ``refgan.ops``.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# dotted name -> folder: setup.cfg installs the kernels/ folder as refgan.kernels
PACKAGES = {"refgan": "refgan", "refgan.kernels": "kernels"}

# Imports of refgan's own modules that stay inside functions, and why. Each is a module
# whose import is costly or impossible where the importing code must still run.
LAZY = {
    # cli.py imports every command module to build its parser: a command defers what
    # only its own run needs when that loads an optional or slow dependency.
    ("refgan.commands.export", "refgan.export.bundle"): "refgan.export imports JAX (optional)",
    ("refgan.commands.train", "refgan.jax_engine"): "train --engine jax: JAX (optional)",
    ("refgan.commands.study", "refgan.study.config"): "refgan.study loads scikit-learn, SciPy (~1 s)",
    ("refgan.commands.study", "refgan.study"): "refgan.study loads scikit-learn, SciPy (~1 s)",
    ("refgan.commands.study", "refgan.classifiers"): "scikit-learn (~1 s)",
    ("refgan.commands.study", "refgan.study.resume"): "refgan.study loads scikit-learn, SciPy (~1 s)",
    ("refgan.commands.reproduce", "refgan.reproduce"): "the study: scikit-learn, SciPy (~1 s)",
    ("refgan.training.quality", "refgan.classifiers"): "scikit-learn (~1 s); train imports quality",
    ("refgan.training.quality", "refgan.metrics"): "scikit-learn (~1 s); train imports quality",
    ("refgan.training.quality", "refgan.metrics.fid"): "scikit-learn (~1 s); train imports quality",
    ("refgan.training.quality", "refgan.classifiers.backbone_files"): "scikit-learn (~1 s); train imports quality",
    ("refgan.training.checkpoint", "refgan.metrics"): "scikit-learn (~1 s); train imports checkpoint",
    # Copied next to the exported networks as loader.py, which runs without refgan
    # where the StableHLO files exist.
    ("refgan.export.loader_template", "refgan.export.to_jax"): "refgan only when rebuilding",
    ("refgan.export.loader_template", "refgan.gans"): "refgan only when rebuilding",
    ("refgan.export.loader_template", "refgan.training.config"): "refgan only when rebuilding",
}


def project_modules(root=ROOT):
    """{dotted name: (path, is_package)} of every module of refgan and kernels, and cli."""
    mods = {"cli": (root / "cli.py", False)}
    for pkg, folder in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = pkg.split(".") + list(path.relative_to(root / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return mods


def imports_of(source: str, module: str, is_package: bool, known) -> list:
    """[(imported project module, line, inside a function)] of one module's source."""
    found = []

    def resolve(name):
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            deferred = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    here = module.split(".") if is_package else module.split(".")[:-1]
                    here = here[:len(here) - child.level + 1]
                    base = ".".join(here + ([child.module] if child.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in child.names]
            else:
                names = []
            for name in names:
                target = resolve(name) if name.split(".")[0] in known else None
                if target and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, deferred)

    visit(ast.parse(source), False)
    return found


def import_graph(root=ROOT):
    """{module: {modules it imports}} and [(module, imported, line)] of deferred imports."""
    mods = project_modules(root)
    known = set(mods) | set(PACKAGES)
    graph, deferred = {}, []
    for name, (path, is_package) in mods.items():
        found = imports_of(path.read_text(), name, is_package, known)
        graph[name] = {target for target, _, _ in found}
        deferred += [(name, target, line) for target, line, inner in found if inner]
    return graph, deferred


def cycles(graph) -> list:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


# ------------------------------------------------------------------------------ tests
def test_no_import_cycle_among_refgan_modules():
    graph, _ = import_graph()
    assert len(graph) > 50 and "refgan.ops.conv" in graph["refgan.ops"]   # the graph was read
    assert cycles(graph) == []


def test_refgan_imports_its_own_modules_at_the_top_of_files():
    _, deferred = import_graph()
    unexplained = sorted(f"{m}:{line} imports {t}" for m, t, line in deferred
                         if (m, t) not in LAZY)
    assert unexplained == [], ("import refgan's own modules at the top of the file; one that "
                               "must stay lazy (an optional or slow dependency) goes into LAZY "
                               "with its reason")
    stale = sorted(set(LAZY) - {(m, t) for m, t, _ in deferred})
    assert stale == [], "allowed lazy imports that no longer exist: remove them from LAZY"


# The zoo (refgan/gans/: the models) stands alone: the machinery that trains, loads and
# saves them (refgan/training/) and everything above it import the zoo, never the reverse,
# as StudioGAN's src/models/ stands apart from its worker and loader.
ZOO_MAY_NOT_IMPORT = ("refgan.training", "refgan.study", "refgan.commands", "refgan.export",
                      "refgan.jax_engine")


def test_the_zoo_imports_nothing_of_the_machinery():
    graph, _ = import_graph()
    zoo = [m for m in graph if m == "refgan.gans" or m.startswith("refgan.gans.")]
    assert len(zoo) >= 10   # the zoo was found
    wrong = sorted(f"{m} imports {t}" for m in zoo for t in graph[m]
                   if t.startswith(ZOO_MAY_NOT_IMPORT))
    assert wrong == [], "the model zoo must not import the training machinery or above"


def test_the_checks_catch_a_planted_cycle_and_a_deferred_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = ("from refgan import ops\n"
              "def f():\n"
              "    from refgan.ops.conv import conv2d\n"
              "    import numpy\n")
    known = {"refgan", "refgan.ops", "refgan.ops.conv", "refgan.nn"}
    assert imports_of(source, "refgan.nn", True, known) == [
        ("refgan.ops", 1, False), ("refgan.ops.conv", 3, True)]
    assert imports_of("from . import ops\n", "refgan.nn", True, known) == []     # refgan.nn.ops
    assert imports_of("from .. import ops\n", "refgan.nn.layers", False,
                      known | {"refgan.nn.layers"}) == [("refgan.ops", 1, False)]
