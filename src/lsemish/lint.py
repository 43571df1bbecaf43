"""Lint a candidate file against the seed's output rules, Triton API constraints, fusion rules and KernelBench's
static checker. Each finding names its line and rule; errors make the exit status non-zero."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

from .problems import ProblemError, source_text

ALLOWED_IMPORTS = {("torch", None), ("torch.nn", "nn"), ("triton", None), ("triton.language", "tl")}
FORBIDDEN_TL = {"tanh", "sigmoid", "gelu", "silu", "softmax", "mish"}
TEST_NAMES = {"get_inputs", "get_init_inputs"}
REDUCTIONS = {"sum", "max", "min", "reduce", "argmax", "argmin", "associative_scan", "cumsum", "cumprod", "xor_sum"}
TIMING_TARGETS = {"synchronize", "Event", "elapsed_time", "record", "do_bench", "perf_counter", "time",
                  "monotonic"}
LOW_PRECISION = {"float16", "bfloat16", "half", "float8_e4m3fn", "float8_e5m2"}


# Every rule a finding can name, with what it checks (`lint --help` lists them).
RULES = {
    "syntax": "the file parses as Python",
    "encoding": "the file is UTF-8 text and declares no other encoding (Python would run what lint did not read)",
    "order": "the seed's layout: imports, @triton.jit kernels, wrappers, class ModelNew last; at least one kernel, "
             "reached from ModelNew",
    "imports": "only torch, torch.nn as nn, triton, triton.language as tl (and torch/triton submodules)",
    "test-code": "no test code: no `if __name__ == ...`, no get_inputs/get_init_inputs/test_* functions",
    "triton-api": "no tl.tanh/sigmoid/gelu/silu/softmax/mish (not in Triton): build them from tl.exp/tl.log",
    "fusion-offsets": "in an element-wise kernel every load and store uses the same offsets (the seed's fusion rules)",
    "fusion-mask": "in an element-wise kernel every load and store uses the same mask",
    "kb-try": "KernelBench's static checker: no try/except anywhere outside comments",
    "kb-pass": "KernelBench's static checker: no `pass` anywhere outside comments",
    "kb-pytorch-wrap": "KernelBench's static checker: no torch.nn.functional / nn layers doing the work",
    "kb-torch-op": "KernelBench's static checker (warning): high-level torch ops doing the work",
    "kb-precision": "KernelBench's static checker (warning): lower precision than the fp32 reference",
    "kb-stream": "KernelBench's static checker: no CUDA streams",
    "kb-threads": "KernelBench's static checker: no threads or processes",
    "kb-timing": "KernelBench's static checker: no assignment to timing or synchronization functions",
    "kb-subclass": "KernelBench's static checker: no torch.Tensor subclasses",
}


@dataclass(frozen=True)
class Finding:
    line: int
    rule: str
    message: str
    severity: str = "error"

    def __str__(self):
        # one printable line whatever the message quotes from the file (it may reach a prompt: a candidate's string
        # with newlines in it must not become lines of their own)
        message = "".join(ch if ch.isprintable() else " " for ch in self.message)
        return f"{self.line}: {self.severity} [{self.rule}] {message}"


def _is_jit(fn: ast.FunctionDef) -> bool:
    for d in fn.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        if isinstance(target, ast.Attribute) and target.attr in ("jit", "autotune", "heuristics"):
            return True
        if isinstance(target, ast.Name) and target.id in ("jit",):
            return True
    return False


def _attr_chain(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _check_order(tree: ast.Module) -> list[Finding]:
    # Sections must come in the order: imports (0), kernels (1), wrappers and their constants (2), ModelNew (3).
    out, stage, seen_model = [], 0, False
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstrings and bare strings
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            section = 0
        elif isinstance(node, ast.FunctionDef) and _is_jit(node):
            section = 1
        elif isinstance(node, ast.ClassDef) and node.name == "ModelNew":
            section, seen_model = 3, True
        else:
            section = 2
        if seen_model and section != 3:
            out.append(Finding(node.lineno, "order", "nothing may follow class ModelNew"))
        elif section < stage:
            names = {0: "import", 1: "@triton.jit kernel", 2: "wrapper/helper"}
            out.append(Finding(node.lineno, "order", f"{names[section]} after a later section "
                                                      "(order: imports, kernels, wrappers, class ModelNew)"))
        stage = max(stage, section)
    if not seen_model:
        out.append(Finding(1, "order", "no class ModelNew"))
    kernels = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and _is_jit(n)}
    if not kernels:
        out.append(Finding(1, "order", "no @triton.jit kernel"))
    elif seen_model and not kernels & _reached_from_model(tree):
        # a kernel that nothing ModelNew reaches never runs: a PyTorch-only forward beside a kernel and its wrapper
        # (a red team's, session 28). Static: a name reached without a launch still passes.
        out.append(Finding(1, "order", "no @triton.jit kernel is reached from class ModelNew (none would run)"))
    return out


def _reached_from_model(tree: ast.Module) -> set[str]:
    """The module-level names that class ModelNew uses, and those their own definitions use, transitively."""
    defines = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defines.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for m in ast.walk(target):
                    if isinstance(m, ast.Name):
                        defines.setdefault(m.id, []).append(node)
    reached, todo = set(), ["ModelNew"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for node in defines.get(name, []):
            todo += [m.id for m in ast.walk(node) if isinstance(m, ast.Name) and m.id not in reached]
    return reached


def _check_imports(tree: ast.Module) -> list[Finding]:
    out, found = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                key = (a.name, a.asname)
                if key not in ALLOWED_IMPORTS:
                    out.append(Finding(node.lineno, "imports", f"import {a.name}" + (f" as {a.asname}" if a.asname
                                       else "") + " is not one of the four allowed imports"))
                found.add(key)
        elif isinstance(node, ast.ImportFrom):
            # The seed's rule names the packages torch and triton: their own submodules may be imported from (as
            # Triton's tutorial 09 does: from triton.tools.tensor_descriptor import TensorDescriptor).
            package = (node.module or "").split(".")[0]
            if node.level or package not in ("torch", "triton"):
                out.append(Finding(node.lineno, "imports", f"from {'.' * node.level}{node.module or ''} import ... "
                                   "is not allowed; only torch and triton (and their submodules) may be imported"))
    for key in sorted(ALLOWED_IMPORTS - found, key=str):
        out.append(Finding(1, "imports", f"missing import {key[0]}" + (f" as {key[1]}" if key[1] else "")))
    return out


def _check_test_code(tree: ast.Module) -> list[Finding]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "__name__" in ast.dump(node.test):
            out.append(Finding(node.lineno, "test-code", "if __name__ == ... block"))
        if isinstance(node, ast.FunctionDef) and (node.name in TEST_NAMES or node.name.startswith("test_")):
            out.append(Finding(node.lineno, "test-code", f"test code: def {node.name}"))
    return out


def _check_triton_api(tree: ast.Module) -> list[Finding]:
    return [Finding(n.lineno, "triton-api", f"tl.{n.attr}: the seed's rules forbid it (they list it among what "
                    "Triton lacks; some Triton versions have it); write it from tl.exp/tl.log")
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr in FORBIDDEN_TL and _attr_chain(n.value) == "tl"]


# KernelBench's static checker (src/kernel_static_checker.py) matches regular expressions against the source text
# with each line cut at its first '#' or '//': strings and docstrings count, comments do not. Its strict rules
# (errors) are the bypass words and PyTorch wrapping; high-level torch computation ops are a warning there.
_NN_CONTAINERS = "Module|parameter|Parameter|ParameterList|ParameterDict|ModuleList|ModuleDict|init"
KB_TEXT_RULES = [
    ("kb-try", re.compile(r"\btry\s*:|\bexcept\s*:|\bexcept\s+\w+"), "error",
     "try/except: KernelBench's static checker rejects these words anywhere outside comments (strings too)"),
    ("kb-pass", re.compile(r"\bpass\b"), "error",
     "the word `pass`: KernelBench's static checker rejects it anywhere outside comments (strings too)"),
    ("kb-pytorch-wrap", re.compile(r"torch\.nn\.functional|\bnn\.functional\.|\bF\.(conv|linear|relu|gelu|softmax|"
                                   r"batch_norm|layer_norm|dropout)|torch\.nn\.(?!(" + _NN_CONTAINERS + r")\b)"),
     "error", "PyTorch wrapping (torch.nn.functional, F.*, or torch.nn.<layer>): rejected by KernelBench"),
    ("kb-torch-op", re.compile(r"\btorch\.(mm|bmm|matmul|einsum|linear|logsumexp|clamp|softplus|tanh|sigmoid|mish|"
                               r"softmax|log_softmax|relu|gelu|silu|dropout|layer_norm|batch_norm)(?=\s*\(|\s|$)"),
     "warning", "a high-level torch computation op (KernelBench warns: the work should be in the kernels)"),
]


def _kb_text_findings(src: str) -> list[Finding]:
    out = []
    for number, line in enumerate(src.split("\n"), start=1):
        for mark in ("#", "//"):
            if mark in line:
                line = line[:line.index(mark)]
        for rule, pattern, severity, message in KB_TEXT_RULES:
            match = pattern.search(line)
            if match:
                out.append(Finding(number, rule, f"{message}: {match.group(0)!r}", severity))
    return out


def _wraps_pytorch(chain: str) -> bool:
    """What the kb-pytorch-wrap text rule matches, on an attribute chain: torch.nn.functional or nn.functional, and
    torch.nn layers other than the containers (nn.Linear holding parameters, as our deliverable's does, is not)."""
    parts = chain.split(".")
    return parts[:2] == ["nn", "functional"] or (parts[:2] == ["torch", "nn"] and len(parts) > 2 and (
        parts[2] == "functional" or not re.fullmatch(_NN_CONTAINERS, parts[2])))


def _check_kernelbench(tree: ast.Module) -> list[Finding]:
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            chain = _attr_chain(n)
            if chain.startswith(("torch.cuda.Stream", "torch.cuda.stream", "torch.cuda.current_stream",
                                 "torch.Stream")):
                out.append(Finding(n.lineno, "kb-stream", f"CUDA streams ({chain}) are not allowed"))
            if chain.split(".")[0] in ("threading", "multiprocessing", "concurrent", "asyncio") \
                    or chain.startswith("torch.multiprocessing"):
                out.append(Finding(n.lineno, "kb-threads", f"threads/processes ({chain}) are not allowed"))
            if _wraps_pytorch(chain):  # as Python reads it: the text rule missed it after a '#' in a string
                out.append(Finding(n.lineno, "kb-pytorch-wrap", f"PyTorch wrapping ({chain}): rejected by "
                                                                  "KernelBench"))
            if n.attr in LOW_PRECISION:
                out.append(Finding(n.lineno, "kb-precision", f"{chain}: lower precision than the fp32 reference",
                                   "warning"))
        elif isinstance(n, ast.ClassDef):
            for b in n.bases:
                if _attr_chain(b) in ("torch.Tensor", "Tensor"):
                    out.append(Finding(n.lineno, "kb-subclass", f"class {n.name} subclasses torch.Tensor"))
        elif isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Attribute) and t.attr in TIMING_TARGETS:
                    out.append(Finding(n.lineno, "kb-timing", f"assignment to {_attr_chain(t)} patches timing"))
        elif isinstance(n, ast.keyword) and n.arg == "input_precision" and isinstance(n.value, ast.Constant) \
                and n.value.value in ("tf32", "tf32x3", "bf16"):
            out.append(Finding(n.value.lineno, "kb-precision", f"tl.dot input_precision={n.value.value!r}",
                               "warning"))
    return out


class _KernelFacts(ast.NodeVisitor):
    """What a kernel does: dots, reductions, atomics, and its tl.load/tl.store calls with their variables."""

    def __init__(self):
        self.assign: dict[str, ast.AST] = {}
        self.dot = self.reduction = self.atomic = False
        self.memops: list[ast.Call] = []
        self.calls: set[str] = set()  # plain-name calls: the @triton.jit helpers it inlines

    def visit_Assign(self, node):
        for t in node.targets:
            if isinstance(t, ast.Name):
                self.assign.setdefault(t.id, node.value)
        self.generic_visit(node)

    def visit_Call(self, node):
        chain = _attr_chain(node.func)
        if chain == "tl.dot":
            self.dot = True
        elif chain.startswith("tl.atomic"):
            self.atomic = True
        elif chain.split(".")[-1] in REDUCTIONS and chain.startswith("tl."):
            self.reduction = True
        elif chain in ("tl.load", "tl.store"):
            self.memops.append(node)
        elif isinstance(node.func, ast.Name):
            self.calls.add(node.func.id)
        self.generic_visit(node)

    def names(self, node, seen=None) -> set[str]:
        """Variable names an expression depends on, through the kernel's assignments."""
        seen = set() if seen is None else seen
        out = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id not in seen:
                seen.add(n.id)
                out.add(n.id)
                if n.id in self.assign:
                    out |= self.names(self.assign[n.id], seen)
        return out

    def arange_vars(self) -> set[str]:
        return {k for k, v in self.assign.items() if "arange" in ast.dump(v)}


def _check_fusion(tree: ast.Module) -> list[Finding]:
    out = []
    kernels = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and _is_jit(fn):
            facts = kernels[fn.name] = _KernelFacts()
            facts.visit(fn)

    def excluded(name, seen):
        # A matmul or reduction kernel, itself or through the @triton.jit helpers it calls (Triton inlines them).
        facts = kernels[name]
        seen.add(name)
        return (facts.dot or facts.reduction or facts.atomic
                or any(excluded(c, seen) for c in facts.calls if c in kernels and c not in seen))

    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name in kernels):
            continue
        facts = kernels[fn.name]
        if excluded(fn.name, set()) or len(facts.memops) < 2:
            continue  # matmul and reduction kernels: the seed excludes them from the element-wise rules
        offsets, masks = None, None
        for call in facts.memops:
            ptr = call.args[0] if call.args else None
            mask = next((k.value for k in call.keywords if k.arg == "mask"), call.args[2] if
                        len(call.args) > 2 and _attr_chain(call.func) == "tl.load" else None)
            offs = frozenset(facts.names(ptr) & facts.arange_vars()) if ptr is not None else frozenset()
            mask_src = ast.unparse(mask) if mask is not None else "<no mask>"
            if offsets is None:
                offsets, masks = offs, mask_src
                continue
            if offs != offsets:
                out.append(Finding(call.lineno, "fusion-offsets",
                                   f"{fn.name}: {_attr_chain(call.func)} uses offsets {sorted(offs)}, "
                                   f"the first memory op used {sorted(offsets)}"))
            if mask_src != masks:
                out.append(Finding(call.lineno, "fusion-mask",
                                   f"{fn.name}: {_attr_chain(call.func)} uses mask {mask_src}, "
                                   f"the first memory op used {masks}"))
    return out


def _check_keywords(src: str) -> list[Finding]:
    """try/except/pass as Python reads them, whatever the spacing (`try \\` and a new line, `except(E)`,
    `except*E`): the text rules read lines as KernelBench does and missed these (a red team's, session 28)."""
    words = {"try": "kb-try", "except": "kb-try", "pass": "kb-pass"}
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.NAME and tok.string in words:
            out.append(Finding(tok.start[0], words[tok.string], f"the keyword `{tok.string}`: KernelBench's static "
                                                                  "checker rejects it"))
    return out


def lint_source(src: str) -> list[Finding]:
    # Python's line breaks: a lone carriage return ends a line for Python, so text after it in a comment ran while
    # the text rules, reading lines split at newlines only, took it for the comment (a red team's, session 28)
    src = src.replace("\r\n", "\n").replace("\r", "\n")
    try:
        tree = ast.parse(src)
        findings = (_kb_text_findings(src) + _check_order(tree) + _check_imports(tree) + _check_test_code(tree)
                    + _check_triton_api(tree) + _check_kernelbench(tree) + _check_keywords(src)
                    + _check_fusion(tree))
    except (SyntaxError, tokenize.TokenError) as e:
        return [Finding(getattr(e, "lineno", None) or 1, "syntax", str(e))]
    except (RecursionError, ValueError, MemoryError) as e:  # a file built to break the analysis (a red team's)
        return [Finding(1, "syntax", f"the file cannot be analysed ({type(e).__name__}: nested too deeply or "
                                     "holding what Python's own parser cannot print back)")]
    return sorted(_once_per_line(findings), key=lambda f: (f.line, f.rule))


# Rules read twice, on the text as KernelBench reads it and as Python reads it (tokens, the AST: a nested attribute
# chain matches once per level): one finding per line each, the text rule's (it quotes what matched) where both saw it.
_READ_TWICE = {"kb-try", "kb-pass", "kb-pytorch-wrap"}


def _once_per_line(findings):
    seen, kept = set(), []
    for f in dict.fromkeys(findings):
        key = (f.line, f.rule)
        if f.rule in _READ_TWICE and key in seen:
            continue
        seen.add(key)
        kept.append(f)
    return kept


def lint_file(path: str) -> list[Finding]:
    """The findings of the file's text as a worker would run it (problems.source_text: UTF-8 only)."""
    try:
        text = source_text(path, "candidate")
    except ProblemError as e:
        return [Finding(1, "encoding", str(e))]
    return lint_source(text)
