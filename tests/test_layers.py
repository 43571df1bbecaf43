"""The package's layers: a module imports only from its own layer or below, and no import cycles.

ops (the deliverable and what builds on its kernels) < problems < evaluate (checking and timing) < search (the loop)
< report (tables, charts) < cli."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "src", "lsemish")
LAYERS = ["ops", "problems", "evaluate", "search", "report", "cli"]
TOP = {"__init__": "ops", "model_new": "ops", "distributed": "ops", "compile_report": "ops", "sass_check": "ops",
       "bench": "evaluate", "grad_check": "evaluate", "lint": "evaluate", "profile": "evaluate", "cli": "cli",
       "__main__": "cli"}


def modules():
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3].replace(os.sep, ".")
                out[rel] = os.path.join(folder, f)
    return out


def layer(name):
    head = name.split(".")[0]
    return head if head in LAYERS and "." in name or head in ("problems", "evaluate", "search", "report") \
        else TOP[head]


def imports(name, path):
    """The lsemish modules that module `name` imports (relative imports resolved)."""
    tree = ast.parse(open(path).read())
    package = name.split(".")[:-1] if not name.endswith("__init__") else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module is None:
                found |= {".".join(base + [a.name]) for a in node.names}
            else:
                found.add(target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lsemish."):
            found.add(node.module[len("lsemish."):])
    return {f for f in found if f}


def resolve(target, known):
    while target and target not in known and target + ".__init__" not in known:
        target = target.rsplit(".", 1)[0] if "." in target else ""
    return target if target in known else (target + ".__init__" if target else "__init__")


def test_every_module_has_a_layer():
    for name in modules():
        assert layer(name) in LAYERS, name


def test_imports_go_down_only():
    mods = modules()
    bad = []
    for name, path in mods.items():
        for target in imports(name, path):
            t = resolve(target, mods)
            if LAYERS.index(layer(t)) > LAYERS.index(layer(name)):
                bad.append(f"{name} ({layer(name)}) imports {t} ({layer(t)})")
    assert not bad, bad


def test_no_import_cycles():
    mods = modules()
    graph = {n: {resolve(t, mods) for t in imports(n, p)} - {n} for n, p in mods.items()}
    state = {}

    def visit(n, stack):
        state[n] = "open"
        for m in graph.get(n, ()):
            if m.endswith("__init__") and m != "__init__" and n.startswith(m[:-len(".__init__")]):
                continue  # a module importing its own package's __init__ is not a cycle of ours
            if state.get(m) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack + [n, m]))
            if m not in state:
                visit(m, stack + [n])
        state[n] = "done"

    for n in graph:
        if n not in state:
            visit(n, [])
