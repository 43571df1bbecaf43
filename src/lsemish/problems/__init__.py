"""Problems in KernelBench's format (class Model, get_inputs(), get_init_inputs()): loading one from a file, with
its module-level sizes overridden (--set NAME=VALUE), and the shipped ones: problem 22 (problem22.py, the headline)
and three small examples that run through Triton's interpreter (a matmul, a GEMM with GELU and a bias, a row
reduction)."""
from __future__ import annotations

import ast
import importlib.util
import os


FOLDER = os.path.dirname(__file__)
PROBLEM_22 = os.path.join(FOLDER, "problem22.py")
EXAMPLES = {name[:-3]: os.path.join(FOLDER, name) for name in sorted(os.listdir(FOLDER))
            if name.endswith(".py") and not name.startswith("_") and name != "problem22.py"}
REQUIRED = ("Model", "get_inputs", "get_init_inputs")
_SETTABLE = (int, float, bool)


class ProblemError(Exception):
    """A problem file (or a --set on it) that cannot be used; the message is one line naming the file and cause."""


def load_module(path, role, required=(), sets=None):
    """The module in file `path`, with a one-line ProblemError for each way it can be unusable. `sets`: {name: value}
    assigned right after each top-level statement that assigns the name, so that the module's later lines (a
    `bias_shape = (out_channels, 1, 1)`, `input_shape = (num_classes,)`) are computed from the new value."""
    spec = importlib.util.spec_from_file_location(f"lsemish_{role}_{abs(hash(os.path.abspath(path)))}", path)
    if spec is None:
        raise ProblemError(f"cannot load {role} {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        if sets:
            with open(path) as fh:
                exec(compile(_with_sets(ast.parse(fh.read(), path), sets), path, "exec"), module.__dict__)
        else:
            spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ProblemError(f"{role} {path} has a syntax error at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # the file's own import-time code failed: one line naming it
        raise ProblemError(f"{role} {path} failed to import: {type(e).__name__}: {str(e).strip()[:300]}") from None
    missing = [name for name in required if not hasattr(module, name)]
    if missing:
        raise ProblemError(f"{role} {path} defines no {', '.join(missing)}")
    return module


def _assigned(node):
    """The names a top-level statement binds by assignment (a = ..., a, b = ..., a: int = ..., a += ...)."""
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _with_sets(tree, sets):
    body = []
    for node in tree.body:
        body.append(node)
        for name in sorted(_assigned(node) & set(sets)):
            body.append(ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())],
                                                     value=ast.Constant(sets[name])), node))
    tree.body = body
    return ast.fix_missing_locations(tree)


def sizes(module) -> dict:
    """The module-level numbers a --set can override (e.g. batch_size, or M in `M, K, N = 128, 96, 80`), by name."""
    return {k: v for k, v in vars(module).items() if not k.startswith("_") and type(v) in _SETTABLE}


def parse_sets(items) -> dict:
    """{'batch_size': 16, ...} from ['batch_size=16', ...]; values as Python numbers or booleans."""
    out = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        if not sep or not name.isidentifier():
            raise ProblemError(f"--set {item!r}: expected NAME=VALUE, e.g. batch_size=16")
        low = text.strip().lower()
        try:
            out[name] = {"true": True, "false": False}[low] if low in ("true", "false") else (
                int(text) if text.strip().lstrip("-").isdigit() else float(text))
        except ValueError:
            raise ProblemError(f"--set {item!r}: {text!r} is not a number or true/false") from None
    return out


def load_problem(path=None, sets=None):
    """A problem module (None: problem 22) with `sets` applied to its module-level sizes."""
    path = PROBLEM_22 if path is None else path
    module = load_module(path, "problem", REQUIRED)
    known = sizes(module)
    typed = {}
    for name, value in (sets or {}).items():
        if name not in known:
            raise ProblemError(f"--set {name}: problem {path} has no module-level size of that name; it has: "
                               + (", ".join(f"{k}={v}" for k, v in known.items()) or "none"))
        typed[name] = type(known[name])(value) if not isinstance(known[name], bool) else bool(value)
    if typed:  # again, with the sizes in place before the lines that use them
        module = load_module(path, "problem", REQUIRED, typed)
        for name, value in typed.items():  # a size bound elsewhere than by a top-level assignment
            setattr(module, name, value)
    module.__lsemish_path__ = os.path.abspath(path)
    return module


def is_problem_22(path) -> bool:
    return path is None or os.path.abspath(path) == os.path.abspath(PROBLEM_22)


