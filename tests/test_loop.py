"""The seed's loop as a tool: problems as input, the prompt, and the agent loop (CPU, through the interpreter)."""
import json
import os
import subprocess
import sys

import pytest

from helpers import right_candidate, write_wrong_candidate
from lsemish.check import CandidateError, run_check, run_problem_check
from lsemish.problems import EXAMPLES

HERE = os.path.dirname(__file__)
FIX = os.path.join(HERE, "fixtures")
SEED = os.path.join(HERE, "..", "..", "shared", "seed")


def cli(*args, cwd=None):
    env = dict(os.environ, TRITON_INTERPRET="1")
    return subprocess.run([sys.executable, "-m", "lsemish", *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def deliverable(tmp_path_factory):
    from lsemish import deliverable_source
    path = tmp_path_factory.mktemp("deliverable") / "model_new.py"
    path.write_text(deliverable_source())
    return str(path)


def test_three_example_problems_ship():
    assert set(EXAMPLES) == {"matmul", "gemm_gelu_bias", "row_softmax_mean"}


@pytest.mark.parametrize("name", ["matmul", "gemm_gelu_bias", "row_softmax_mean"])
def test_check_passes_right_and_fails_wrong_for_each_problem(name, tmp_path):
    right = run_problem_check(EXAMPLES[name], right_candidate(name), trials=2, log=lambda m: None)
    wrong = run_problem_check(EXAMPLES[name], write_wrong_candidate(name, tmp_path / "wrong.py"), trials=2,
                              log=lambda m: None)
    assert len(right) == 2 and all(r["passed"] for r in right), right
    assert len(wrong) == 2 and not any(r["passed"] for r in wrong), wrong
    assert all(o["rel_l2_vs_fp64"] < 1e-5 for r in right for o in r["outputs"])


def test_check_passes_right_and_fails_wrong_for_problem_22(deliverable):
    quiet = dict(shape=(16, 32, 24), precision="fp32", trials=1, log=lambda m: None)
    assert all(r["passed"] for r in run_check(deliverable, **quiet))
    assert not any(r["passed"] for r in run_check(os.path.join(FIX, "wrong_candidate.py"), **quiet))


def test_check_cli_takes_a_problem(tmp_path):
    r = cli("check", "--problem", EXAMPLES["matmul"], "--candidate",
            write_wrong_candidate("matmul", tmp_path / "wrong.py"), "--trials", "1")
    assert r.returncode == 1 and "0 passed, 1 failed" in r.stdout and "tol 0.0001" in r.stdout, r.stdout


def test_a_file_that_is_not_a_problem_is_named(tmp_path):
    bad = tmp_path / "no_model.py"
    bad.write_text("def get_inputs():\n    return []\n")
    with pytest.raises(CandidateError, match="problem .* defines no Model, get_init_inputs"):
        run_problem_check(str(bad), right_candidate("matmul"))


@pytest.mark.parametrize("args,msg", [
    (["bench", "--problem", EXAMPLES["matmul"]], "needs a CUDA GPU"),
    (["grad", "--problem", EXAMPLES["matmul"]], "only problem 22"),
])
def test_gpu_commands_with_a_problem_on_the_cpu(args, msg):
    r = cli(*args)
    assert r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


# --- prompt -------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not os.path.exists(os.path.join(SEED, "seed_prompt.txt")), reason="../shared/seed not beside")
def test_prompt_rebuilds_the_seeds_own_prompt_section_by_section(tmp_path):
    from lsemish.prompt import split_sections
    seed = open(os.path.join(SEED, "seed_prompt.txt")).read()
    metrics = tmp_path / "metrics.json"
    metrics.write_text(split_sections(seed)["[NCU PROFILING METRICS]"].strip())
    r = cli("prompt", "--candidate", os.path.join(SEED, "current_code.py"), "--metrics", str(metrics))
    assert r.returncode == 0, r.stderr
    ours, theirs = split_sections(r.stdout), split_sections(seed)
    for section in theirs:
        assert ours[section] == theirs[section], section
    assert r.stdout == seed


def test_prompt_gpu_table_stage_file_and_errors(tmp_path):
    metrics = tmp_path / "m.json"
    metrics.write_text('{"k": {"launch__grid_size": 4}}')
    stage = tmp_path / "stage.md"
    stage.write_text("## Current Optimization Stage\n\nFocus: memory coalescing.\n")
    cand = right_candidate("matmul")
    r = cli("prompt", "--candidate", cand, "--metrics", str(metrics), "--gpu", "h100", "--stage", str(stage))
    assert r.returncode == 0, r.stderr
    assert "GPU Name: H100 SXM5 80GB" in r.stdout and "• Number of SMs: 132" in r.stdout
    assert "Focus: memory coalescing." in r.stdout and '"launch__grid_size": 4' in r.stdout
    assert cli("prompt", "--candidate", cand, "--metrics", str(metrics), "--gpu", "V100").stderr.strip().endswith(
        "known: 4090, H100, H200, A100, L40S or auto")
    r = cli("prompt", "--candidate", cand)
    assert r.returncode == 1 and "pass its metrics with --metrics FILE" in r.stderr
    r = cli("prompt", "--candidate", cand, "--gpu", "auto", "--metrics", str(metrics))
    assert r.returncode == 1 and "--gpu auto needs a CUDA GPU" in r.stderr


# --- loop ---------------------------------------------------------------------------------------------------------

def agent(tmp_path, *steps):
    return f"{sys.executable} {os.path.join(FIX, 'agent.py')} {tmp_path / 'agent.state'} " + " ".join(steps)


def test_loop_three_rounds_ends_on_the_right_best(tmp_path, deliverable):
    out = tmp_path / "run"
    wrong = write_wrong_candidate("problem22_torch", tmp_path / "wrong.py")
    script = agent(tmp_path, wrong, right_candidate("problem22_torch"), deliverable)
    r = cli("loop", "--agent", script, "--rounds", "3", "--trials", "1", "--out", str(out), "--candidate", wrong)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no GPU: bench and profile are skipped" in r.stdout
    state = json.loads((out / "state.json").read_text())
    assert [rec["status"].split(":")[0] for rec in state["rounds"]] == ["check failed", "check failed", "pass", "pass"]
    assert state["best"] == 3
    assert (out / "best.py").read_text() == open(deliverable).read()
    for name in ("prompt.txt", "answer.txt", "candidate.py", "lint.txt", "check.json"):
        assert (out / "round-02" / name).exists(), name
    # The round-3 prompt carries the current code: round 2's passing candidate.
    assert open(right_candidate("problem22_torch")).read() in (out / "round-03" / "prompt.txt").read_text()
    assert "best: round 3" in (out / "summary.md").read_text()


def test_bad_agents_and_bad_candidates_end_only_their_round(tmp_path):
    hangs = tmp_path / "hangs.py"
    hangs.write_text(open(right_candidate("matmul")).read().replace(
        "        return matmul(A, B)", "        while True:\n            A = A + 0\n        return matmul(A, B)"))
    out = tmp_path / "run"
    script = agent(tmp_path, "hang", "nocode", "fail", "garbage", str(hangs), right_candidate("matmul"))
    r = cli("loop", "--agent", script, "--rounds", "6", "--trials", "1", "--out", str(out), "--problem",
            EXAMPLES["matmul"], "--candidate", write_wrong_candidate("matmul", tmp_path / "wrong.py"),
            "--agent-timeout", "3",
            "--step-timeout", "25")
    assert r.returncode == 0, r.stderr[-2000:]
    statuses = [rec["status"] for rec in json.loads((out / "state.json").read_text())["rounds"]]
    assert statuses[0].startswith("check failed")
    assert statuses[1] == "agent: no answer within 3 s"
    assert statuses[2] == "agent: no fenced python block in the answer"
    assert statuses[3].startswith("agent: exit 3")
    assert statuses[4].startswith("lint:")  # the garbage block does not parse
    assert statuses[5] == "check: killed after 25 s"
    assert statuses[6] == "pass"


def test_loop_resumes(tmp_path):
    out = tmp_path / "run"
    wrong = write_wrong_candidate("row_softmax_mean", tmp_path / "wrong.py")
    script = agent(tmp_path, wrong, right_candidate("row_softmax_mean"))
    common = ["--agent", script, "--trials", "1", "--out", str(out), "--problem", EXAMPLES["row_softmax_mean"],
              "--candidate", wrong]
    assert cli("loop", "--rounds", "1", *common).returncode == 0
    first = (out / "round-01" / "answer.txt").read_text()
    r = cli("loop", "--rounds", "2", *common)
    assert r.returncode == 0 and "resuming" in r.stdout, r.stdout
    state = json.loads((out / "state.json").read_text())
    assert len(state["rounds"]) == 3 and state["best"] == 2
    assert (out / "round-01" / "answer.txt").read_text() == first
