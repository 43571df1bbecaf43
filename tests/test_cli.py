"""The command line: check passes a right candidate and fails a wrong one; arguments are validated."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(__file__)


def run(*args):
    env = dict(os.environ, TRITON_INTERPRET="1")
    return subprocess.run([sys.executable, "-m", "lsemish", *args], capture_output=True, text=True, env=env)


def test_check_passes_our_deliverable(tmp_path):
    r = run("check", "--trials", "2", "--json", str(tmp_path / "c.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "interpreter" in r.stdout and "10 passed, 0 failed" in r.stdout
    data = json.loads((tmp_path / "c.json").read_text())
    assert len(data["results"]) == 10 and all(t["passed"] for t in data["results"])


def test_check_fails_a_wrong_candidate():
    r = run("check", "--trials", "1", "--candidate", os.path.join(HERE, "fixtures", "wrong_candidate.py"))
    assert r.returncode == 1
    assert "0 passed, 5 failed" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["check", "--shape", "1,2"], "shape must be M,K,N"),
    (["check", "--dist", "cauchy"], "unknown distribution"),
    (["check", "--precision", "fp8"], "invalid choice"),
    (["check", "--candidate", "/no/such.py"], "no such file"),
    (["lint", "/no/such.py"], "no such file"),
    (["frobnicate"], "invalid choice"),
])
def test_argument_errors(args, msg):
    r = run(*args)
    assert r.returncode == 2 and msg in r.stderr
