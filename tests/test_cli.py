"""The command line: check passes a right candidate and fails a wrong one; arguments are validated."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(__file__)


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return None


def run(*args):
    env = dict(os.environ, TRITON_INTERPRET="1")
    return subprocess.run([sys.executable, "-m", "lsemish", *args], capture_output=True, text=True, env=env)


def test_check_passes_our_deliverable(tmp_path):
    r = run("check", "--trials", "2", "--json", str(tmp_path / "c.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    # 10 distributions x 2 (edges: problem 22's; gated: get_inputs() again, against float64), the two reuse probes
    assert "interpreter" in r.stdout and "22 passed, 0 failed" in r.stdout
    assert "PASS: passes KernelBench's protocol (4/4); passes on 9 other input distribution(s)" in r.stdout
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["verdict"] == "pass" and len(data["results"]) == 22 and all(t["passed"] for t in data["results"])


def test_check_fails_a_wrong_candidate():
    r = run("check", "--trials", "1", "--candidate", os.path.join(HERE, "fixtures", "wrong_candidate.py"))
    assert r.returncode == 1
    assert "1 passed, 11 failed" in r.stdout and "FAIL: fails KernelBench's protocol (0/2)" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["check", "--shape", "1,2"], "shape must be M,K,N"),
    (["check", "--dist", "cauchy"], "unknown distribution"),
    (["check", "--precision", "fp8"], "invalid choice"),
    (["check", "--candidate", "/no/such.py"], "no such file"),
    (["check", "--candidate", HERE], "is a folder; give a file"),
    (["check", "--set", "batch_size"], "expected NAME=VALUE"),
    (["check", "--set", "batch_size=big"], "is not a number"),
    (["check", "--timeout", "0"], "positive number of seconds"),
    (["check", "--timeout", "nan"], "positive number of seconds"),  # no limit at all (a red team's, session 28)
    (["check", "--timeout", "inf"], "positive number of seconds"),
    (["lint", "/no/such.py"], "no such file"),
    (["frobnicate"], "invalid choice"),
])
def test_argument_errors(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr


CANDIDATES = {
    "no_model.py": ("import torch\n", "defines no class ModelNew"),
    "syntax.py": ("import torch\ndef f(:\n", "syntax error at line 2"),
    "import_error.py": ("import torch\nraise RuntimeError('boom at import')\n",
                        "failed to import: RuntimeError: boom at import"),
    "constructor.py": ("import torch.nn as nn\nclass ModelNew(nn.Module):\n    def __init__(self, a):\n"
                       "        super().__init__()\n", "ModelNew(64, 48, 2.0, -10.0, 10.0) failed"),
    "cuda_only.py": ("import torch, torch.nn as nn\nclass ModelNew(nn.Module):\n"
                     "    def __init__(self, *args):\n        super().__init__()\n"
                     "        self.matmul = nn.Linear(args[0], args[1])\n"
                     "    def forward(self, x):\n        assert x.is_cuda, 'needs CUDA'\n        return x\n",
                     "candidate raised AssertionError: needs CUDA (cuda_only.py:7: assert x.is_cuda"),
}


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_bad_candidates_get_one_line(tmp_path, name):
    # A candidate that cannot be imported, built or run fails the check with one line naming why; no traceback.
    source, msg = CANDIDATES[name]
    path = tmp_path / name
    path.write_text(source)
    r = run("check", "--trials", "2", "--candidate", str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert msg in r.stdout and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("FAIL: ") and msg in r.stdout.strip().splitlines()[-1]


def test_a_candidate_of_another_problem_without_problem_gets_a_hint(tmp_path):
    # A new user forgot --problem: the candidate was built for problem 22's arguments and failed; say why.
    cand = tmp_path / "matmul_candidate.py"
    cand.write_text("import torch\nclass ModelNew(torch.nn.Module):\n    def __init__(self):\n"
                    "        super().__init__()\n    def forward(self, A, B):\n        return A @ B\n")
    r = run("check", "--trials", "1", "--candidate", str(cand))
    assert r.returncode == 1 and "no trial ran" in r.stdout, r.stdout
    assert "hint: without --problem the candidate is judged on KernelBench level 2 problem 22" in r.stdout


def test_a_problem_other_than_22_needs_a_candidate():
    r = run("check", "--problem", os.path.join(HERE, "..", "src", "lsemish", "problems", "matmul.py"))
    assert r.returncode == 1 and "--candidate FILE (the file defining ModelNew) is needed" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("where,line", [
    ("forward", "the problem's reference Model failed on its own kernelbench inputs: RuntimeError: mat1 and mat2"),
    ("init", "the problem's reference Model could not be built: ValueError: needs an even width"),
    ("init_inputs", "the problem's get_init_inputs() failed: ZeroDivisionError: integer division or modulo by "
                    "zero"),
    ("inputs", "the problem's kernelbench inputs could not be made (get_inputs()): RuntimeError: Trying to create "
               "tensor with negative dimension"),
])
def test_a_problem_whose_own_model_fails_is_one_line(tmp_path, where, line):
    # Sizes that do not fit together (KernelBench's level-2 problem 3 at a --set that breaks its LayerNorm did
    # this): the reference itself fails, before any candidate is judged. One line on stderr, exit 1, no traceback.
    problem = tmp_path / "p.py"
    problem.write_text("import torch, torch.nn as nn\nwidth = 8\nclass Model(nn.Module):\n"
                       "    def __init__(self, w):\n        super().__init__()\n"
                       "        if w % 2: raise ValueError('needs an even width')\n"
                       "        self.lin = nn.Linear(w, 4)\n"
                       "    def forward(self, x):\n        return self.lin(x[:, 1:])\n"
                       "def get_inputs():\n    return [torch.rand(2, width - 100 * (width == 6))]\n"
                       "def get_init_inputs():\n    return [width + 1 // (width - 4)]\n")
    candidate = tmp_path / "c.py"
    candidate.write_text(problem.read_text() + "\nModelNew = Model\n")
    r = run("check", "--problem", str(problem), "--candidate", str(candidate), "--trials", "1",
            *{"init": ["--set", "width=7"], "init_inputs": ["--set", "width=4"],
              "inputs": ["--set", "width=6"]}.get(where, []))
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and line in r.stderr, r.stderr


def test_a_reference_that_fails_only_in_float64_is_its_own_gold(tmp_path):
    # Its forward makes a float32 tensor: the float64 copy (the gold) cannot run; the check goes on with the reference
    # itself as the gold and says so once.
    problem = tmp_path / "f32.py"
    problem.write_text("import torch, torch.nn as nn\nclass Model(nn.Module):\n"
                       "    def forward(self, x):\n        return x @ torch.ones(8, 3)\n"
                       "def get_inputs():\n    return [torch.rand(4, 8)]\n"
                       "def get_init_inputs():\n    return []\n")
    candidate = tmp_path / "c.py"
    candidate.write_text(problem.read_text() + "\nModelNew = Model\n")
    r = run("check", "--problem", str(problem), "--candidate", str(candidate), "--trials", "1")
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert r.stdout.count("note: the reference failed in float64 (RuntimeError") == 1, r.stdout
    assert r.stdout.count("the float64 check compares against the reference itself") == 1, r.stdout


def test_a_raising_candidate_is_reported_with_type_and_message(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text("import torch, torch.nn as nn\nclass ModelNew(nn.Module):\n"
                    "    def __init__(self, *args):\n        super().__init__()\n"
                    "        self.matmul = nn.Linear(args[0], args[1])\n"
                    "    def forward(self, x):\n        raise ValueError('wrong rank')\n")
    r = run("check", "--trials", "1", "--dist", "kernelbench", "--candidate", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "FAIL  candidate raised ValueError: wrong rank (raises.py:7:" in r.stdout, r.stdout


def test_fail_lines_state_the_tolerance():
    r = run("check", "--trials", "1", "--dist", "kernelbench", "--candidate",
            os.path.join(HERE, "fixtures", "wrong_candidate.py"))
    assert r.returncode == 1 and "FAIL  output 0 differs from the reference: max-abs" in r.stdout, r.stdout
    assert "(tolerance 0.0001)" in r.stdout


def test_cpu_check_says_which_tolerance_and_why_tf32_misses_it():
    r = run("check", "--trials", "1", "--dist", "kernelbench", "--precision", "tf32")
    assert "tolerance atol=rtol=0.0001" in r.stdout and "not averaged enough" in r.stdout, r.stdout


@pytest.mark.parametrize("args,msg", [
    (["bench", "--shapes", "1,2"], "shape must be M,K,N"),
    (["check", "--json", "/no/such/dir/x.json"], "no such directory /no/such/dir"),
    (["grad", "--json", "/no/such/dir/x.json"], "no such directory"),
    (["check", "--trials", "0"], "must be a positive integer"),
    (["check", "--trials", "-3"], "must be a positive integer"),
    (["grad", "--trials", "0"], "must be a positive integer"),
    (["check", "--shape", "-1,64,48"], "shape must be M,K,N with three positive integers; got '-1,64,48'"),
    (["profile", "--shape", "0,1,1"], "shape must be M,K,N"),
])
def test_argument_errors_before_any_work(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("command", ["bench", "grad", "profile"])
def test_gpu_commands_without_a_gpu_say_so(command):
    r = run(command)
    assert r.returncode == 1 and "needs a CUDA GPU" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_help_lists_public_commands_only_and_documents_every_option():
    r = run("--help")
    assert r.returncode == 0 and "_forward" not in r.stdout and "SUPPRESS" not in r.stdout
    assert r.stdout.startswith("usage: python -m lsemish")
    from lsemish.cli import build_parser
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert set(subparsers) == {"check", "bench", "grad", "profile", "lint", "emit", "prompt", "loop", "report"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)


def test_console_script_names_itself():
    from lsemish.cli import main
    with pytest.raises(SystemExit):
        main(["--help"])
    r = subprocess.run([sys.executable, "-c", "import sys; from lsemish.cli import main; sys.argv = ['lsemish', "
                        "'--help']; main()"], capture_output=True, text=True)
    assert r.stdout.startswith("usage: lsemish "), r.stdout


def test_model_new_is_visible_in_dir():
    import lsemish
    assert {"ModelNew", "linear_lse_mish", "PRECISIONS"} <= set(dir(lsemish))


def test_ctrl_c_during_a_trial_ends_check_at_once(tmp_path):
    # The worker is busy with a trial (its candidate sleeps): an interrupt kills it instead of asking it to exit and
    # waiting 10 s for an answer that cannot come (a new user waited 10 s in half their tries, session 12).
    import signal
    import time
    cand = tmp_path / "slow.py"
    import secrets
    name = f"lsa_{secrets.token_hex(5)}"  # this run's own (another run's sleeper may still be about)
    cand.write_text("import ctypes, time, torch\nclass ModelNew(torch.nn.Module):\n"
                    f"    def forward(self, A, B):\n        ctypes.CDLL(None).prctl(15, b'{name}')\n"
                    "        time.sleep(60)\n        return A @ B\n")
    proc = subprocess.Popen([sys.executable, "-m", "lsemish", "check", "--problem",
                             os.path.join(HERE, "..", "src", "lsemish", "problems", "matmul.py"), "--candidate",
                             str(cand), "--trials", "1", "--timeout", "120"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, TRITON_INTERPRET="1"),
                            # as from a terminal: a test run started in the background inherits SIGINT ignored, and
                            # Python then installs no KeyboardInterrupt for it (a CI rehearsal under nohup, session 15)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # until the worker is inside the first trial's call (its name says so); a fixed 8 s sent the signal while a
    # loaded CI machine was still importing torch, which swallowed it (session 15)
    asleep, deadline = [], time.monotonic() + 90
    while not asleep and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        asleep = [p for p in os.listdir("/proc") if p.isdigit() and _comm(p) == name]
    assert asleep, "the candidate's call never started"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 5, err
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err


@pytest.mark.parametrize("returns", ["(x * 2, x.sum().item())", "(x * 2, None)", "((x, x), x)", "x.sum().item()"])
def test_a_reference_returning_anything_but_tensors_is_refused_in_one_line(tmp_path, returns):
    # Outputs that are not tensors were never compared: a wrong candidate passed there and an honest one failed (a
    # red team's, session 27). The problem is refused, naming the output.
    problem = tmp_path / "p.py"
    problem.write_text("import torch, torch.nn as nn\nclass Model(nn.Module):\n"
                       f"    def forward(self, x):\n        return {returns}\n"
                       "def get_inputs():\n    return [torch.rand(4, 8)]\n"
                       "def get_init_inputs():\n    return []\n")
    candidate = tmp_path / "c.py"
    candidate.write_text(problem.read_text() + "\nModelNew = Model\n")
    r = run("check", "--problem", str(problem), "--candidate", str(candidate), "--trials", "1")
    assert r.returncode != 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "only tensor outputs can be compared" in r.stderr, r.stderr


ROWS = """import torch, torch.nn as nn
batch_size, cols = 4, 8
class Model(nn.Module):
    def forward(self, x):
        return x[:, :cols] * 2
def get_inputs():
    return [torch.rand(batch_size, 8{grad})]
def get_init_inputs():
    return []
"""


def test_a_problem_whose_outputs_are_empty_is_refused_and_inputs_that_require_grad_are_checked(tmp_path):
    # A red team's (session 28): --set batch_size=0 passed a candidate answering anything (every comparison was of
    # empty outputs); inputs that require grad crashed the reuse probe's refill with a traceback.
    problem = tmp_path / "p.py"
    problem.write_text(ROWS.format(grad=""))
    wrong = tmp_path / "wrong.py"
    wrong.write_text(problem.read_text() + "class ModelNew(Model):\n    def forward(self, x):\n"
                     "        return x * 3\n")
    r = run("check", "--problem", str(problem), "--candidate", str(wrong), "--trials", "1", "--set", "cols=0")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "returns only empty outputs on its kernelbench inputs ((4, 0)): nothing to compare" in r.stderr
    r = run("check", "--problem", str(problem), "--candidate", str(wrong), "--trials", "1", "--set", "batch_size=0")
    assert r.returncode == 1 and "inputs are all empty ((0, 8))" in r.stderr, r.stderr
    graded = tmp_path / "g.py"
    graded.write_text(ROWS.format(grad=", requires_grad=True"))
    right = tmp_path / "right.py"
    right.write_text(graded.read_text() + "\nModelNew = Model\n")
    r = run("check", "--problem", str(graded), "--candidate", str(right), "--trials", "1")
    assert r.returncode == 0 and "PASS" in r.stdout and "Traceback" not in r.stderr, r.stdout + r.stderr


def test_a_candidate_that_is_not_utf8_is_one_line_for_lint_and_prompt(tmp_path):
    # A red team's (session 28): both were a UnicodeDecodeError traceback
    bad = tmp_path / "latin.py"
    bad.write_bytes("import torch\n# caf\xe9\n".encode("latin-1"))
    for args in (("lint", str(bad)), ("prompt", "--candidate", str(bad), "--metrics", "seed")):
        r = run(*args)
        assert r.returncode == 1 and "is not UTF-8 text" in r.stdout + r.stderr, r.stdout + r.stderr
        assert "Traceback" not in r.stderr, r.stderr


def test_inputs_holding_nan_are_not_read_as_modified(tmp_path):
    # NaN is not equal to itself: the worker's before-and-after comparison failed an honest candidate as "modified
    # input 0" on inputs holding NaN (problem 22's edge inputs at scale_factor=0; a red team's, session 28)
    problem = tmp_path / "p.py"
    problem.write_text("import torch, torch.nn as nn\nclass Model(nn.Module):\n    def forward(self, x):\n"
                       "        return x * 2\ndef get_inputs():\n    x = torch.rand(4, 8)\n    x[1, 3] = float('nan')\n"
                       "    return [x]\ndef get_init_inputs():\n    return []\n")
    right = tmp_path / "right.py"
    right.write_text(problem.read_text() + "\nModelNew = Model\n")
    r = run("check", "--problem", str(problem), "--candidate", str(right), "--trials", "1", "--dist", "kernelbench")
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout + r.stderr


def test_degenerate_sizes_are_refused_or_named(tmp_path):
    # A red team's (session 28): at --set K=0 a matmul's inputs are empty and zeros pass; with problem 22's clamp
    # bounds set equal its output is one constant for every input, and a constant answer passes. Inputs all empty
    # are refused; a reference whose outputs never change is named in the verdict.
    from lsemish.problems import EXAMPLES, PROBLEM_22
    zeros = tmp_path / "zeros.py"
    zeros.write_text("import torch, torch.nn as nn\nclass ModelNew(nn.Module):\n    def forward(self, A, B):\n"
                     "        return torch.zeros(A.shape[0], B.shape[1])\n")
    r = run("check", "--problem", EXAMPLES["matmul"], "--candidate", str(zeros), "--set", "K=0", "--trials", "1")
    assert r.returncode == 1 and "inputs are all empty ((128, 0), (0, 80))" in r.stderr, r.stderr
    const = tmp_path / "const.py"
    const.write_text("import torch, torch.nn as nn\nclass ModelNew(nn.Module):\n"
                     "    def __init__(self, *args):\n        super().__init__()\n"
                     "    def forward(self, x):\n        v = torch.log(torch.tensor(8.0))\n"
                     "        c = v * v * torch.tanh(torch.nn.functional.softplus(v))\n"
                     "        return torch.full((x.shape[0], 1), float(c))\n")  # lse = ln N, never reading x
    r = run("check", "--problem", PROBLEM_22, "--candidate", str(const), "--trials", "1", "--set", "batch_size=8",
            "--set", "input_size=16", "--set", "hidden_size=8", "--set", "clamp_min=0", "--set", "clamp_max=0")
    assert "PASS" in r.stdout and "the reference's outputs are constant at these sizes" in r.stdout, r.stdout


def test_a_check_stopped_by_a_rejection_says_how_many_trials_ran(tmp_path):
    # The counts are of the trials planned; a red team read "fails KernelBench's protocol (0/2)" after one (28)
    problem = tmp_path / "p.py"
    problem.write_text(ROWS.format(grad=""))
    reuse = tmp_path / "reuse.py"
    reuse.write_text(problem.read_text() + "class ModelNew(Model):\n    def forward(self, x):\n"
                     "        if not hasattr(self, 'buf'):\n            self.buf = super().forward(x)\n"
                     "        return self.buf.copy_(super().forward(x))\n")
    r = run("check", "--problem", str(problem), "--candidate", str(reuse), "--trials", "1")
    assert r.returncode == 1 and "same output memory" in r.stdout, r.stdout + r.stderr
    assert "; stopped after 2 of 11 trials — " in r.stdout, r.stdout
