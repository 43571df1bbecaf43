"""The loop as a search, on the CPU with scripted agents: several samples a round evaluated in parallel, each
strategy ending on the right best, feedback in the next prompt (and the seed's layout without it), stages advancing
on patience, a candidate that kills its worker not stopping the others, resume mid-round, an OpenAI-compatible
endpoint (a scripted local server), and the strategies' rules on made-up records."""
import json
import os
import subprocess
import sys

import pytest

from helpers import right_candidate, write_wrong_candidate
from lsemish.problems import EXAMPLES
from lsemish.search.feedback import MARKER, feedback_section
from lsemish.search.prompt import build_prompt
from lsemish.search.strategies import select

HERE = os.path.dirname(__file__)
FIX = os.path.join(HERE, "fixtures")
STAGES = os.path.join(HERE, "..", "src", "lsemish", "search", "stages")


def cli(*args):
    env = dict(os.environ, TRITON_INTERPRET="1")
    return subprocess.run([sys.executable, "-m", "lsemish", *args], capture_output=True, text=True, env=env)


def agent(tmp_path, *steps):
    return f"{sys.executable} {os.path.join(FIX, 'agent.py')} {tmp_path / 'agent.state'} " + " ".join(steps)


def state_of(out):
    return json.loads((out / "state.json").read_text())


def rec(i, ms=None, ok=True, rnd=1):
    return {"id": f"c{i}", "order": i, "round": rnd, "status": "pass" if ok else "check failed: x",
            **({"call_ms": ms} if ms else {})}


# --- strategies on made-up records ------------------------------------------------------------------------------------

def test_greedy_keeps_the_fastest_so_far_best_of_n_the_rounds_fastest_beam_the_k_fastest():
    start, a, b, c, bad = rec(0, 1.0, rnd=0), rec(1, 2.0), rec(2, 0.5), rec(3, 0.7), rec(4, 0.1, ok=False)
    everything = [start, a, b, c, bad]
    assert select("greedy", [start], [a, b, c, bad], everything, timed=True) == [b]
    assert select("best-of-n", [start], [a, c], everything, timed=True) == [c]  # slower than b, but this round's
    assert select("best-of-n", [start], [bad], everything, timed=True) == [start]  # none passed: the parent stays
    assert select("beam", [start, a], [b, c, bad], everything, timed=True, beam=2) == [b, c]
    assert select("greedy", [start], [a, b], everything, timed=False) == [c]  # untimed: the newest that passed
    with pytest.raises(ValueError, match="unknown strategy"):
        select("random", [], [], [], True)


def test_feedback_names_what_happened_and_is_bounded():
    parent = {"call_ms": 0.5}
    children = [{"status": "check failed: output 0 differs from the reference: max-abs 1.2e-01 (tolerance 0.0001)"},
                {"status": "pass", "call_ms": 0.25}, {"status": "lint: 1 error(s), first: 3: error [order] x"}]
    text = feedback_section(children, parent)
    assert text.startswith(MARKER) and "max-abs 1.2e-01 (tolerance 0.0001)" in text
    assert "0.2500 ms per call, 0.50x the current code's 0.5000 ms (faster)" in text and "lint: 1 error" in text
    assert feedback_section([], parent) == ""
    assert len(feedback_section([{"status": "check failed: " + "x" * 500}] * 20, parent)) <= 2400 + 20


def test_no_feedback_keeps_the_seeds_layout():
    plain = build_prompt("code\n", {"k": 1})
    assert build_prompt("code\n", {"k": 1}, feedback="") == plain and MARKER not in plain
    fed = build_prompt("code\n", {"k": 1}, feedback=MARKER + "\n- passed")
    assert fed.replace(MARKER + "\n- passed\n\n", "") == plain


# --- the loop -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["greedy", "best-of-n", "beam"])
def test_several_samples_a_round_end_on_the_right_best(tmp_path, strategy):
    out = tmp_path / "run"
    wrong = write_wrong_candidate("matmul", tmp_path / "wrong.py")
    right = right_candidate("matmul")
    # Round 1: wrong, garbage, right; round 2 (per parent): wrong, nocode, right.
    script = agent(tmp_path, wrong, "garbage", right)
    r = cli("loop", "--agent", script, "--rounds", "2", "--samples", "3", "--strategy", strategy, "--beam", "2",
            "--trials", "1", "--out", str(out), "--problem", EXAMPLES["matmul"], "--candidate", wrong,
            "--workers", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    state = state_of(out)
    round1 = sorted((c for c in state["candidates"] if c["round"] == 1), key=lambda c: c["id"])
    assert len(round1) == 3 and sum(c["status"] == "pass" for c in round1) == 1
    best = next(c for c in state["candidates"] if c["id"] == state["best"])
    assert best["status"] == "pass" and (out / "best.py").read_text() == open(right).read()
    # Round 2's parents are the round-1 survivors; their prompts carry what happened to their own children.
    parents = state["rounds"][2]["parents"]
    assert parents and all(p.startswith("r01-") for p in parents)
    prompt = (out / "round-02" / "prompt-p0.txt").read_text()
    assert MARKER not in (out / "round-01" / "prompt-p0.txt").read_text()
    assert "r00" in state["rounds"][1]["parents"]
    summary = (out / "summary.md").read_text()
    assert f"strategy {strategy}, 3 sample(s) per parent" in summary and "[1/3]" in r.stdout
    if strategy != "beam":
        assert MARKER not in prompt  # its parent is a round-1 child that has no children yet


def test_feedback_reaches_the_next_prompt_of_the_same_parent(tmp_path):
    # Greedy with a parent that stays (no child passes): its next prompt says what its children did.
    out = tmp_path / "run"
    right = right_candidate("matmul")
    wrong = write_wrong_candidate("matmul", tmp_path / "wrong.py")
    script = agent(tmp_path, wrong, "nocode")
    r = cli("loop", "--agent", script, "--rounds", "2", "--samples", "2", "--trials", "1", "--out", str(out),
            "--problem", EXAMPLES["matmul"], "--candidate", right)
    assert r.returncode == 0, r.stderr[-2000:]
    prompt = (out / "round-02" / "prompt-p0.txt").read_text()
    assert MARKER in prompt and "differs from the reference" in prompt and "no fenced python block" in prompt
    assert "kernelbench trial 0" in prompt  # KernelBench's failure is named first, whatever the order of trials


def test_stages_advance_on_patience(tmp_path):
    out = tmp_path / "run"
    wrong = write_wrong_candidate("matmul", tmp_path / "wrong.py")
    script = agent(tmp_path, wrong)  # never better: every stage runs out of patience
    r = cli("loop", "--agent", script, "--rounds", "3", "--trials", "1", "--out", str(out), "--problem",
            EXAMPLES["matmul"], "--candidate", right_candidate("matmul"), "--stages", STAGES, "--patience", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    stages = [r_["stage"] for r_ in state_of(out)["rounds"][1:]]
    assert stages == ["1-fused-grid", "2-tiling-pipelining", "3-memory-vectorization"], stages
    assert "Tiling & software pipelining" in (out / "round-02" / "prompt-p0.txt").read_text()
    assert "| 3-memory-vectorization |" in (out / "summary.md").read_text()


def test_a_candidate_that_kills_its_worker_does_not_stop_the_others(tmp_path):
    out = tmp_path / "run"
    dies = tmp_path / "dies.py"
    dies.write_text(open(right_candidate("matmul")).read().replace(
        "        return matmul(A, B)", "        torch.os.kill(torch.os.getpid(), 9)\n        return matmul(A, B)"))
    script = agent(tmp_path, str(dies), right_candidate("matmul"), str(dies), right_candidate("matmul"))
    r = cli("loop", "--agent", script, "--rounds", "1", "--samples", "4", "--trials", "1", "--out", str(out),
            "--problem", EXAMPLES["matmul"], "--candidate", right_candidate("matmul"), "--workers", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    got = sorted(c["status"] for c in state_of(out)["candidates"] if c["round"] == 1)
    assert got[:2] == ["check failed: the worker was killed by SIGKILL before it delivered its result"] * 2, got
    assert got[2:] == ["pass", "pass"]


def test_resume_mid_round_asks_no_answer_twice(tmp_path):
    out = tmp_path / "run"
    script = agent(tmp_path, right_candidate("matmul"))
    args = ["--agent", script, "--trials", "1", "--out", str(out), "--problem", EXAMPLES["matmul"], "--candidate",
            right_candidate("matmul"), "--samples", "3"]
    assert cli("loop", "--rounds", "1", *args).returncode == 0
    asked = int((tmp_path / "agent.state").read_text())
    state = state_of(out)  # as if interrupted after the first answers: two candidates not recorded yet
    state["candidates"] = [c for c in state["candidates"] if c["id"] not in ("r01-p0-s1", "r01-p0-s2")]
    state["rounds"][1]["done"] = False
    if state["best"] not in {c["id"] for c in state["candidates"]}:
        state["best"] = "r01-p0-s0"
    (out / "state.json").write_text(json.dumps(state))
    r = cli("loop", "--rounds", "1", *args)
    assert r.returncode == 0 and "resuming" in r.stdout, r.stdout
    assert int((tmp_path / "agent.state").read_text()) == asked  # the kept answers were not asked again
    assert sorted(c["id"] for c in state_of(out)["candidates"]) == ["r00", "r01-p0-s0", "r01-p0-s1", "r01-p0-s2"]


def test_an_openai_compatible_endpoint_with_a_rate_limit(tmp_path):
    # A scripted local server: a rate limit first (retried with backoff), then answers; tokens in the summary.
    pytest.importorskip("openai")
    sys.path.insert(0, FIX)
    from chat_server import ChatServer
    wrong = write_wrong_candidate("matmul", tmp_path / "wrong.py")
    server = ChatServer(["429", wrong, right_candidate("matmul")])
    try:
        env = dict(os.environ, TRITON_INTERPRET="1", OPENAI_BASE_URL=server.url, OPENAI_API_KEY="test-key")
        r = subprocess.run([sys.executable, "-m", "lsemish", "loop", "--agent", "openai:scripted-model", "--rounds",
                            "1", "--samples", "2", "--agent-concurrency", "1", "--trials", "1", "--out",
                            str(tmp_path / "run"), "--problem", EXAMPLES["matmul"], "--candidate", wrong],
                           capture_output=True, text=True, env=env)
    finally:
        server.close()
    assert r.returncode == 0, r.stderr[-2000:]
    got = sorted(c["status"].split(":")[0] for c in state_of(tmp_path / "run")["candidates"] if c["round"] == 1)
    assert got == ["check failed", "pass"], got
    assert len(server.prompts) == 3 and "[CURRENT CODE]" in server.prompts[0]
    assert "tokens: 2000 prompt, 400 completion" in (tmp_path / "run" / "summary.md").read_text()


def test_an_agent_whose_output_is_not_utf8_is_read_not_a_crash():
    # A red team's shell agent wrote invalid UTF-8 and ended the loop with a UnicodeDecodeError (session 11).
    import sys
    from lsemish.search.agents import run_limited
    rc, out, err, timed_out = run_limited([sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe')"],
                                          30)
    assert rc == 0 and not timed_out and out.startswith("ok ") and "\ufffd" in out


def test_benches_on_different_gpus_get_different_cpus():
    # Each GPU's steps get their own share of the CPUs, so that bench's one-CPU pin of its timed worker never puts
    # two GPUs' workers on one CPU (session 11).
    from lsemish.search.pool import cpu_share
    assert cpu_share("0", gpus=2, cpus=range(16)) == list(range(8))
    assert cpu_share("1", gpus=2, cpus=range(16)) == list(range(8, 16))
    assert cpu_share("0", gpus=1, cpus=range(16)) is None  # one GPU: one timing at a time
    assert cpu_share("3", gpus=8, cpus=range(4)) is None  # fewer CPUs than GPUs
    shares = [set(cpu_share(str(g), gpus=4, cpus=range(32))) for g in range(4)]
    assert all(not (a & b) for i, a in enumerate(shares) for b in shares[i + 1:])


def test_a_slot_is_an_index_among_the_gpus_this_process_was_given(monkeypatch):
    # Session 13's loop ran with CUDA_VISIBLE_DEVICES=1 and pinned its steps to CUDA_VISIBLE_DEVICES=0: the machine's
    # GPU 0, where another bench was timing; an honest candidate read 3 ms of work outside its call and was rejected.
    from lsemish.search.pool import step_environment
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert step_environment("0")["CUDA_VISIBLE_DEVICES"] == "3"
    assert step_environment("1")["CUDA_VISIBLE_DEVICES"] == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert "LSEMISH_CPUS" not in step_environment("0")  # the only GPU it sees: all its CPUs
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert step_environment("2")["CUDA_VISIBLE_DEVICES"] == "2"


def test_a_step_runs_on_the_cpus_the_loop_gave_it(tmp_path):
    import os
    import subprocess
    import sys
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity here")
    mine = sorted(os.sched_getaffinity(0))[-1]
    code = "import os, lsemish.cli as c; c._take_cpu_share(); print(sorted(os.sched_getaffinity(0)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, LSEMISH_CPUS=str(mine))).stdout.strip()
    assert out == f"[{mine}]"


def test_the_answer_is_the_first_python_block_outside_the_thoughts():
    from lsemish.search.loop import extract_code
    answer = "<think>\n```python\ndraft = 1\n```\n</think>\nHere:\n```Python\nfinal = 2\n```\n```python\nlater = 3\n```"
    assert extract_code(answer) == "final = 2\n"
    assert extract_code("```\nbare = 1\n```") is None  # the seed asks for a python block


def test_a_profile_that_gives_no_result_is_named_and_the_candidate_keeps_its_time(tmp_path, monkeypatch):
    # On an H200 (session 14) every profile of the loop was killed at its step's limit (ncu's injection could not
    # connect through the worker's filter): the record, the console and the next prompt say so instead of nothing.
    import json
    import os
    from lsemish.search import pool
    from lsemish.search.summary import write_summary

    def step(args, folder, name, settings, slot):
        if name == "check":
            with open(args[args.index("--json") + 1], "w") as fh:
                json.dump({"passed": 3, "failed": 0, "summary": "", "verdict": "pass", "reason": ""}, fh)
        if name == "bench":
            os.makedirs(args[args.index("--out") + 1], exist_ok=True)
            with open(os.path.join(args[args.index("--out") + 1], "bench.json"), "w") as fh:
                json.dump({"rows": [{"name": "candidate", "call_ms": 0.5, "rejected": None},
                                    {"name": "reference-eager", "call_ms": 2.0, "rejected": None}]}, fh)
        return 0, "", name == "profile"
    monkeypatch.setattr(pool, "_step", step)
    settings = pool.Settings(problem=None, trials=1, step_timeout=7, call_timeout=5, timed=True)
    rec = pool.evaluate(str(tmp_path / "c.py"), str(tmp_path), settings, slot="0")
    assert rec["status"] == "pass" and rec["call_ms"] == 0.5 and "metrics" not in rec
    assert rec["profile"] == "killed after 7 s"
    rec.update(id="r01-p0-s0", round=1, order=1, parent="r00")
    state = {"problem": None, "agent": "a", "strategy": "greedy", "samples": 1, "candidates": [rec], "best": None}
    text = write_summary(state, str(tmp_path), timed=True, log=lambda m: None)
    assert "no metrics: profile killed after 7 s" in text


def test_a_step_that_hangs_leaves_what_it_printed_and_is_killed_whole(tmp_path):
    # A suite's bench on an H200 ran 270 s and left no line of where (session 17): a step's output reaches its file
    # as it comes, and the step's children die with it.
    import time
    from lsemish.search.pool import run_logged
    log = tmp_path / "bench.txt"
    code = ("import subprocess, sys, time; print('starting candidate ...', flush=True); "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "print('child', c.pid, flush=True); time.sleep(60)")
    started = time.monotonic()
    rc, text, timed_out = run_logged([sys.executable, "-c", code], 3, str(log))
    assert timed_out and rc is None and time.monotonic() - started < 30
    assert text.startswith("starting candidate ...\nchild ") and text.endswith("(killed after 3 s)\n")
    assert log.read_text() == text
    child = int(text.splitlines()[1].split()[1])
    for _ in range(50):  # killed: gone, or a zombie where nothing reaps orphans
        try:
            with open(f"/proc/{child}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in "ZX":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the step's child outlived it")
    rc, text, timed_out = run_logged([sys.executable, "-c", "import sys; print('out'); sys.exit('err')"], 30, str(log))
    assert (rc, timed_out) == (1, False) and text.splitlines() == ["out", "err"]


def test_the_best_is_timed_once_more_beside_eager_and_torch_compile(tmp_path, monkeypatch):
    # a suite's speedups against torch.compile (issue 25): the loop's benches leave it out; its best is timed once
    # more with it, in one bench, and only once per best
    import json
    import os
    from lsemish.search import loop, pool
    calls = []

    def step(args, folder, name, settings, slot):
        calls.append(args)
        out = args[args.index("--out") + 1]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "bench.json"), "w") as fh:
            json.dump({"rows": [{"name": "reference-eager", "call_ms": 2.0, "rejected": None},
                                {"name": "reference-compile", "call_ms": 1.0, "rejected": None},
                                {"name": "candidate", "call_ms": 0.5, "rejected": None}]}, fh)
        return 0, "", False
    monkeypatch.setattr(pool, "_step", step)
    (tmp_path / "round-01" / "p0-s0").mkdir(parents=True)
    (tmp_path / "round-01" / "p0-s0" / "candidate.py").write_text("# best\n")

    class Search:
        state = {"best": "r01-p0-s0", "candidates": [{"id": "r01-p0-s0", "candidate": "round-01/p0-s0/candidate.py"}]}

        def save(self):
            pass
    search = Search()
    settings = pool.Settings(problem=None, trials=1, step_timeout=7, call_timeout=5, timed=True)
    slots = pool.Pool([None])
    try:
        loop.final_bench(search, str(tmp_path), settings, slots, log=lambda m: None)
        loop.final_bench(search, str(tmp_path), settings, slots, log=lambda m: None)
    finally:
        slots.shutdown()
    assert len(calls) == 1 and "--no-compile" not in calls[0] and calls[0][0] == "bench"
    assert (tmp_path / "final" / "candidate.py").read_text() == "# best\n"
    assert search.state["final"] == {"id": "r01-p0-s0", "status": "timed", "call_ms": 0.5, "eager_call_ms": 2.0,
                                     "compile_call_ms": 1.0, "compile_note": None}
    from lsemish.search.summary import write_summary
    state = dict(search.state, problem=None, agent="a", strategy="greedy", samples=1)
    state["candidates"] = [dict(state["candidates"][0], round=1, order=1, parent="r00", status="pass", call_ms=0.6)]
    text = write_summary(state, str(tmp_path), timed=True, log=lambda m: None)
    assert "final bench of the best beside eager and torch.compile: 0.5000 ms per call, 4.00x eager, 2.00x " \
           "torch.compile faster" in text
    settings.timed = False  # without a GPU nothing is timed
    search.state["best"] = "r02-p0-s0"
    loop.final_bench(search, str(tmp_path), settings, None, log=lambda m: None)
    assert len(calls) == 1
