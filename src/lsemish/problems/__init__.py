"""Problems in KernelBench's format (class Model, get_inputs(), get_init_inputs()): loading one from a file, with
its module-level sizes overridden (--set NAME=VALUE), and the shipped ones: problem 22 (problem22.py, the headline)
and three small examples that run through Triton's interpreter (a matmul, a GEMM with GELU and a bias, a row
reduction)."""
from __future__ import annotations

import ast
import importlib.util
import io
import math
import os
import tokenize


FOLDER = os.path.dirname(__file__)
PROBLEM_22 = os.path.join(FOLDER, "problem22.py")
EXAMPLES = {name[:-3]: os.path.join(FOLDER, name) for name in sorted(os.listdir(FOLDER))
            if name.endswith(".py") and not name.startswith("_") and name != "problem22.py"}
REQUIRED = ("Model", "get_inputs", "get_init_inputs")
_SETTABLE = (int, float, bool)


class ProblemError(Exception):
    """A problem file (or a --set on it) that cannot be used; the message is one line naming the file and cause."""


def source_text(path, role):
    """The text of the Python file `path` as lint reads it and a worker runs it: UTF-8 (a BOM allowed) with no other
    encoding declared. Python honours a coding line when it imports a file, so a candidate declaring utf-7 ran code
    that lint had read as a comment (a red team's, session 28). ProblemError in one line otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise ProblemError(f"cannot read {role} {path}: {e.strerror or e}") from None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:  # an unknown encoding declared, or a BOM with another one
        raise ProblemError(f"{role} {path}: {e.msg}") from None
    if encoding not in ("utf-8", "utf-8-sig"):
        raise ProblemError(f"{role} {path} declares the {encoding} encoding: source files are read as UTF-8 only, so "
                           "that what runs is what was read")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ProblemError(f"{role} {path} is not UTF-8 text (byte {e.start}: {e.reason})") from None


def load_module(path, role, required=(), sets=None):
    """The module in file `path` (its text as source_text reads it), with a one-line ProblemError for each way it can
    be unusable. `sets`: {name: value} assigned right after each top-level statement that assigns the name, so that
    the module's later lines (a `bias_shape = (out_channels, 1, 1)`, `input_shape = (num_classes,)`) are computed
    from the new value."""
    spec = importlib.util.spec_from_file_location(f"lsemish_{role}_{abs(hash(os.path.abspath(path)))}", path)
    if spec is None:
        raise ProblemError(f"cannot load {role} {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    text = source_text(path, role)
    try:
        tree = ast.parse(text, path)
        if sets:
            tree = _with_sets(tree, sets, path)
        exec(compile(tree, path, "exec", dont_inherit=True), module.__dict__)
    except SyntaxError as e:
        raise ProblemError(f"{role} {path} has a syntax error at line {e.lineno}: {e.msg}") from None
    except Exception as e:  # the file's own import-time code failed: one line naming it
        raise ProblemError(f"{role} {path} failed to import: {type(e).__name__}: {str(e).strip()[:300]}") from None
    missing = [name for name in required if not hasattr(module, name)]
    if missing:
        raise ProblemError(f"{role} {path} defines no {', '.join(missing)}")
    return module


_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


def _assigned(node):
    """The names a module-level statement binds: by assignment (a = ..., a, b = ..., a: int = ..., a += ...), by a
    walrus inside it, or in its header (for a in ..., with ... as a)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return set()
    if isinstance(node, _BLOCKS):
        heads = [node.target] if isinstance(node, (ast.For, ast.AsyncFor)) else \
            [i.optional_vars for i in node.items if i.optional_vars] if isinstance(node, (ast.With, ast.AsyncWith)) \
            else []
        return {n.id for h in heads for n in ast.walk(h) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)} | \
        {n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)}


def _with_sets(tree, sets, path):
    """The module with `name = value` after every module-level statement that binds a set name (inside if, for,
    while, with and try blocks too: they are module scope); a set name bound nowhere so is a ProblemError."""
    found = set()

    def rewrite(body):
        out = []
        for node in body:
            if isinstance(node, _BLOCKS):
                for field in ("body", "orelse", "finalbody"):
                    if getattr(node, field, None):
                        setattr(node, field, rewrite(getattr(node, field)))
                for handler in getattr(node, "handlers", ()):
                    handler.body = rewrite(handler.body)
            out.append(node)
            for name in sorted(_assigned(node) & set(sets)):
                found.add(name)
                out.append(ast.copy_location(ast.Assign(targets=[ast.Name(name, ast.Store())],
                                                        value=ast.Constant(sets[name])), node))
        return out
    tree.body = rewrite(tree.body)
    missing = sorted(set(sets) - found)
    if missing:
        raise ProblemError(f"--set {missing[0]}: problem {path} does not assign {missing[0]} in a statement of its "
                           "own (a function or a class sets it): edit the file instead")
    return ast.fix_missing_locations(tree)


def source_with_sets(text, sets):
    """A problem's source as it runs with `sets`: `name = value  # --set` after each line that assigns a set name at
    module level, as load_module assigns it (what an agent is shown: the sizes it is checked and timed at)."""
    if not sets:
        return text
    lines = text.splitlines()
    after = {}

    def bound(node):  # the set names a module-level statement binds, in its blocks too
        names = _assigned(node) & set(sets)
        if isinstance(node, _BLOCKS):
            for field in ("body", "orelse", "finalbody"):
                for child in getattr(node, field, None) or []:
                    names |= bound(child)
            for handler in getattr(node, "handlers", ()):
                for child in handler.body:
                    names |= bound(child)
        return names
    for node in ast.parse(text).body:  # after the whole top-level statement, unindented: the value it ends with
        for name in sorted(bound(node)):
            after.setdefault(node.end_lineno, []).append(
                f"{name} = {sets[name]!r}  # --set: the size it is checked and timed at")
    out = []
    for number, line in enumerate(lines, 1):
        out.append(line)
        out += after.get(number, [])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def problem_22_sizes(sets, shape=None, interpreted=False):
    """Problem 22's sizes to set: its (M, K, N) `shape` or, where its kernels are interpreted (no GPU), the small
    CPU_SHAPE, as batch_size, input_size and hidden_size, with `sets` over them; `sets` alone without either."""
    from .problem22 import CPU_SHAPE
    shape = shape or (CPU_SHAPE if interpreted else None)
    if not shape:
        return sets
    return {**dict(zip(("batch_size", "input_size", "hidden_size"), shape)), **(sets or {})}


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


def _typed(name, now, value):
    """`value` as the type of the size it replaces (`now`); a ProblemError for a value that type cannot hold."""
    if isinstance(now, bool):
        return bool(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ProblemError(f"--set {name}={value}: not a finite number")
    if isinstance(now, int) and isinstance(value, float) and not value.is_integer():
        raise ProblemError(f"--set {name}={value}: {name} is a whole number ({now})")
    return type(now)(value)


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
        typed[name] = _typed(name, known[name], value)
    if typed:  # again, with the sizes in place before the lines that use them
        module = load_module(path, "problem", REQUIRED, typed)
        for name, value in typed.items():  # a size bound elsewhere than by a top-level assignment
            setattr(module, name, value)
    module.__lsemish_path__ = os.path.abspath(path)
    return module


def is_problem_22(path) -> bool:
    return path is None or os.path.abspath(path) == os.path.abspath(PROBLEM_22)


