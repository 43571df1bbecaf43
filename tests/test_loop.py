"""The seed's loop as a tool: problems as input, the prompt, and the agent loop (CPU, through the interpreter)."""
import json
import os
import subprocess
import sys

import pytest

from helpers import ended, right_candidate, write_wrong_candidate
from lsemish.evaluate.check import run_check
from lsemish.problems import EXAMPLES, ProblemError

QUIET = dict(log=lambda m: None)
SMALL_22 = {"batch_size": 16, "input_size": 32, "hidden_size": 24}

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
    right = run_check(EXAMPLES[name], right_candidate(name), trials=1, **QUIET)
    wrong = run_check(EXAMPLES[name], write_wrong_candidate(name, tmp_path / "wrong.py"), trials=1, **QUIET)
    # 9 distributions, 2 reuse probes; on failure every trial's figures (a one-off log-normal failure, session 22)
    assert right["verdict"] == "pass" and right["passed"] == 11, (right["summary"], right["trials"])
    # (Judged against float64 on large inputs, a small absolute error can pass there: the verdict still fails.)
    assert wrong["verdict"] == "fail" and wrong["kernelbench"]["passed"] == 0, wrong["summary"]
    # (its first failing trial may be KernelBench's or the gated one, drawn in a random order)
    assert "differs from the reference" in wrong["reason"] or "off the float64 result" in wrong["reason"]
    assert all(o["rel_l2_vs_fp64"] < 1e-5 for r in right["trials"] for o in r["outputs"])


def test_check_passes_right_and_fails_wrong_for_problem_22(deliverable):
    quiet = dict(sets=SMALL_22, model_kwargs={"precision": "fp32"}, trials=1, **QUIET)
    assert run_check(None, deliverable, **quiet)["verdict"] == "pass"
    wrong = run_check(None, os.path.join(FIX, "wrong_candidate.py"), **quiet)
    # every trial fails but the edge cases', whose rows are all clamped: any product gives the clamped answer there
    assert wrong["verdict"] == "fail" and [t["dist"] for t in wrong["trials"] if t["passed"]] == ["edges"]


def test_check_reports_kernelbench_and_other_distributions_apart(tmp_path):
    # A "matmul" that is right only for non-negative inputs: passes KernelBench's protocol (torch.rand), fails on
    # signed inputs; the verdict is a fail that says so.
    relu = tmp_path / "relu_inputs.py"
    relu.write_text(open(right_candidate("matmul")).read().replace("        return matmul(A, B)",
                                                                    "        return matmul(A.abs(), B.abs())"))
    r = run_check(EXAMPLES["matmul"], str(relu), trials=1, **QUIET)
    assert r["kernelbench"]["passed"] == r["kernelbench"]["planned"] == 2
    assert r["verdict"] == "fail" and "passes KernelBench's protocol (2/2); fails on signed (normal)" in r["summary"]


def test_check_cli_takes_a_problem(tmp_path):
    r = cli("check", "--problem", EXAMPLES["matmul"], "--candidate",
            write_wrong_candidate("matmul", tmp_path / "wrong.py"), "--trials", "1", "--dist", "kernelbench")
    assert r.returncode == 1 and "0 passed, 2 failed" in r.stdout and "tolerance 0.0001" in r.stdout, r.stdout


def test_a_file_that_is_not_a_problem_is_named(tmp_path):
    bad = tmp_path / "no_model.py"
    bad.write_text("def get_inputs():\n    return []\n")
    with pytest.raises(ProblemError, match="problem .* defines no Model, get_init_inputs"):
        run_check(str(bad), right_candidate("matmul"))
    r = cli("check", "--problem", str(bad), "--candidate", right_candidate("matmul"))
    assert r.returncode == 1 and "defines no Model" in r.stderr and "Traceback" not in r.stderr


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
    from lsemish.search.prompt import split_sections
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


def statuses(out):
    state = json.loads((out / "state.json").read_text())
    return [rec["status"] for rec in sorted(state["candidates"], key=lambda r: r["order"])], state


def test_loop_three_rounds_ends_on_the_right_best(tmp_path, deliverable):
    out = tmp_path / "run"
    wrong = write_wrong_candidate("problem22_torch", tmp_path / "wrong.py")
    script = agent(tmp_path, wrong, right_candidate("problem22_torch"), deliverable)
    r = cli("loop", "--agent", script, "--rounds", "3", "--trials", "1", "--out", str(out), "--candidate", wrong)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no GPU: bench and profile are skipped" in r.stdout
    got, state = statuses(out)
    assert [s.split(":")[0] for s in got] == ["check failed", "check failed", "pass", "pass"]
    assert "differs from the reference" in got[1] or "off the float64 result" in got[1]  # kernelbench or gated first
    assert state["best"] == "r03-p0-s0"
    assert (out / "best.py").read_text() == open(deliverable).read()
    for name in ("answer.txt", "candidate.py", "lint.txt", "check.json", "check.txt"):
        assert (out / "round-02" / "p0-s0" / name).exists(), name
    # The round-3 prompt carries the current code: round 2's passing candidate.
    assert open(right_candidate("problem22_torch")).read() in (out / "round-03" / "prompt-p0.txt").read_text()
    assert "best: r03-p0-s0" in (out / "summary.md").read_text()


def test_bad_agents_and_bad_candidates_end_only_their_round(tmp_path):
    hangs = tmp_path / "hangs.py"
    hangs.write_text(open(right_candidate("matmul")).read().replace(
        "        return matmul(A, B)", "        while True:\n            A = A + 0\n        return matmul(A, B)"))
    out = tmp_path / "run"
    script = agent(tmp_path, "hang", "nocode", "fail", "garbage", str(hangs), right_candidate("matmul"))
    r = cli("loop", "--agent", script, "--rounds", "6", "--trials", "1", "--out", str(out), "--problem",
            EXAMPLES["matmul"], "--candidate", write_wrong_candidate("matmul", tmp_path / "wrong.py"),
            "--agent-timeout", "3", "--call-timeout", "5",
            "--step-timeout", "60")
    assert r.returncode == 0, r.stderr[-2000:]
    got, _ = statuses(out)
    assert got[0].startswith("check failed")
    assert got[1] == "agent: no answer within 3 s"
    assert got[2] == "agent: no fenced python block in the answer"
    assert got[3].startswith("agent: exit 3")
    assert got[4].startswith("lint:")  # the garbage block does not parse
    assert got[5].startswith("check failed: no result within 5 s"), got[5]
    assert got[6] == "pass"


def test_loop_resumes(tmp_path):
    out = tmp_path / "run"
    wrong = write_wrong_candidate("row_softmax_mean", tmp_path / "wrong.py")
    script = agent(tmp_path, wrong, right_candidate("row_softmax_mean"))
    common = ["--agent", script, "--trials", "1", "--out", str(out), "--problem", EXAMPLES["row_softmax_mean"],
              "--candidate", wrong]
    assert cli("loop", "--rounds", "1", *common).returncode == 0
    first = (out / "round-01" / "p0-s0" / "answer.txt").read_text()
    r = cli("loop", "--rounds", "2", *common)
    assert r.returncode == 0 and "resuming" in r.stdout, r.stdout
    got, state = statuses(out)
    assert len(got) == 3 and state["best"] == "r02-p0-s0"
    assert (out / "round-01" / "p0-s0" / "answer.txt").read_text() == first
    # another agent: which setting differs is named; new search options are said and recorded
    other = ["--agent", "echo other"] + common[2:]
    r = cli("loop", "--rounds", "2", *other)
    assert r.returncode == 1 and "holds a run of another --agent" in r.stderr, r.stderr
    r = cli("loop", "--rounds", "2", "--samples", "2", *common)
    assert r.returncode == 0 and "resuming with --samples 2 (its earlier rounds had 1)" in r.stdout, r.stdout
    assert statuses(out)[1]["samples"] == 2
    assert len(statuses(out)[1]["wall_s"]) == 2  # two sessions ran rounds; the last had none to run


def test_the_loop_keeps_no_cheat(tmp_path, deliverable):
    # An agent that answers with cheats (each lint-clean: our deliverable plus a few lines) and then honestly: the
    # cheating rounds fail with their reasons, the honest code is best, and no round's candidate touched the records.
    import hostile_set
    source = open(deliverable).read()
    cheats = [hostile_set.compose(n, source, tmp_path / f"{n}.py")
              for n in ("comparison_patch", "silent_exit", "input_mutation", "input_memo")]
    out = tmp_path / "run"
    script = agent(tmp_path, *cheats, deliverable)
    r = cli("loop", "--agent", script, "--rounds", "5", "--trials", "1", "--out", str(out), "--candidate", deliverable)
    assert r.returncode == 0, r.stderr[-2000:]
    got, state = statuses(out)
    assert got[0] == "pass" and got[5] == "pass", got
    assert "replaced torch.allclose" in got[1]
    assert "raised SystemExit(0)" in got[2]
    assert "modified input 0" in got[3]
    assert "stale answer" in got[4]  # the reuse probe, or its own earlier output memory
    # the honest answer is the starting code again: its earlier verdict, and the start stays the best
    assert state["best"] == "r00" and next(c for c in state["candidates"] if c["id"] == "r05-p0-s0")["same_as"] == "r00"
    summary = (out / "summary.md").read_text()
    assert "replaced torch.allclose" in summary and not any(p.name == "HOSTILE_WAS_HERE" for p in out.rglob("*"))


def test_a_loop_whose_every_agent_call_fails_exits_1(tmp_path):
    # A mistyped --agent: every candidate is an agent failure; the run exits 1 naming it (it used to exit 0).
    out = tmp_path / "run"
    r = cli("loop", "--problem", EXAMPLES["matmul"], "--agent", "no-such-agent-cmd --x", "--rounds", "1",
            "--out", str(out), "--trials", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "loop: every agent call failed (agent: exit 127" in r.stderr and "check --agent" in r.stderr, r.stderr


def test_an_answer_over_the_cap_is_an_agent_failure_and_not_stored(tmp_path):
    out = tmp_path / "run"
    script = tmp_path / "huge.py"
    script.write_text("print('```python\\n' + 'x = 1\\n' * 1000000 + '```')\n")
    huge = f"{sys.executable} {script}"
    r = cli("loop", "--problem", EXAMPLES["matmul"], "--agent", huge, "--rounds", "1", "--out", str(out),
            "--trials", "1")
    got, _ = statuses(out)
    assert got[1].startswith("agent: an answer of 5.7 MiB (more than 4 MiB)"), got
    assert not (out / "round-01" / "p0-s0" / "answer.txt").exists() and r.returncode == 1


def test_a_stopped_loop_kills_its_agents_and_steps_and_can_resume(tmp_path):
    # A suite stopped by `timeout` on an H200 left its running step behind (session 17): SIGTERM (or Ctrl-C) ends
    # the loop at once, exit 130, with every child it started.
    import signal
    import time
    pid_file = tmp_path / "agent.pid"
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lsemish", "loop", "--agent", f"echo $$ > {pid_file}; exec sleep 120", "--rounds", "1",
           "--trials", "1", "--problem", EXAMPLES["matmul"], "--candidate", right_candidate("matmul"),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TRITON_INTERPRET="1"))
    deadline = time.monotonic() + 300
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    agent_pid = int(pid_file.read_text())
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "stopped" in err and time.monotonic() - stopped_at < 15, err[-2000:]
    assert ended(agent_pid), "the agent outlived the loop"
    got, _ = statuses(out)
    assert got == ["pass"]  # the start's record, kept for a resume
