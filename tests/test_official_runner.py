"""The official-problems runner (benchmarks/evaluator/official_problems.py) places checks on GPUs by the memory they
need."""
import os
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks", "evaluator"))

from official_problems import MemoryBudget, run_placed  # noqa: E402


def test_checks_share_a_gpu_only_within_its_budget_and_a_huge_one_runs_alone():
    budget = MemoryBudget(range(2), 10.0)
    held = {0: 0.0, 1: 0.0}
    most = {0: 0.0, 1: 0.0}
    alone = []
    lock = threading.Lock()

    def job(need):
        gpu, taken = budget.take(need)
        with lock:
            held[gpu] += taken
            most[gpu] = max(most[gpu], held[gpu])
            if need is None or need > 10:
                alone.append(held[gpu] == 10.0)
        time.sleep(0.02)
        with lock:
            held[gpu] -= taken
        budget.give(gpu, taken)
    needs = [4, 4, 4, 30, 6, None, 3, 3, 7, 2]
    threads = [threading.Thread(target=job, args=(n,)) for n in needs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert max(most.values()) <= 10.0 and min(most.values()) > 0  # both GPUs used, neither over its budget
    assert alone == [True, True]  # the one over a GPU's budget and the unknown one each had a GPU to themselves
    assert budget.left == {0: 10.0, 1: 10.0}


def test_a_memory_verdict_beside_others_is_run_again_at_once_with_the_gpu_alone():
    # at the end of the run, two such reruns were cut by the deadline (session 17): now at once, alone
    budget = MemoryBudget(range(1), 10.0)
    seen = []

    def run(gpu):
        seen.append(budget.left[gpu])
        if len(seen) == 1:
            return {"verdict": "no verdict", "reason": "out of memory computing the float64 reference"}
        return {"verdict": "pass", "reason": None}
    row = run_placed(budget, 4.0, run)
    assert seen == [6.0, 0.0] and row["verdict"] == "pass"
    assert row["alone_after"] == "no verdict: out of memory computing the float64 reference"
    assert run_placed(budget, None, lambda gpu: {"verdict": "no verdict", "reason": "out of memory"})["verdict"] == \
        "no verdict" and budget.left == {0: 10.0}  # alone already: once
    assert "alone_after" not in run_placed(budget, 2.0, lambda gpu: {"verdict": "fail", "reason": "differs"})


def test_the_runner_checks_each_problem_with_its_own_reference_and_records_time_and_memory(tmp_path):
    # A KernelBench-shaped folder of two small problems (ours: KernelBench is not vendored); each is checked with its
    # own Model as the candidate, in a child process, and passes; the table and the JSON lines say so.
    import json
    import shutil
    import subprocess
    here = os.path.dirname(__file__)
    problems = os.path.join(here, "..", "src", "lsemish", "problems")
    (tmp_path / "kb" / "level1").mkdir(parents=True)
    for i, name in enumerate(("matmul", "row_softmax_mean"), 1):
        shutil.copy(os.path.join(problems, f"{name}.py"), tmp_path / "kb" / "level1" / f"{i}_{name}.py")
    r = subprocess.run([sys.executable, os.path.join(here, "..", "benchmarks", "evaluator", "official_problems.py"),
                        str(tmp_path / "kb"), str(tmp_path / "out"), "--levels", "1", "--jobs", "2", "--trials", "1",
                        "--timeout", "200"], capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "out" / "official.jsonl").read_text().splitlines()]
    assert [row["verdict"] for row in rows] == ["pass", "pass"] and not any(row["traceback"] for row in rows)
    assert all(row["peak_gib"]["trusted"] > 0 and row["peak_gib"]["worker"] > 0 for row in rows)
    assert "2 problems, 2 pass, 0 with a traceback" in (tmp_path / "out" / "official.md").read_text()


KERNELBENCH = os.environ.get("LSEMISH_KERNELBENCH")  # KernelBench's KernelBench/ folder (not vendored, issue 26)


@pytest.mark.skipif(not KERNELBENCH, reason="set LSEMISH_KERNELBENCH to KernelBench's KernelBench/ folder to run the "
                    "official CPU sample (benchmarks/evaluator/official_cpu_sample.json)")
def test_the_official_cpu_sample_passes_with_each_problems_own_reference(tmp_path):
    # Official problems of every kind at small sizes (--set, derived module-level shapes following): each passes
    # check with its own reference as the candidate, in one line each, no traceback.
    import json
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    sample = os.path.join(root, "benchmarks", "evaluator", "official_cpu_sample.json")
    runner = os.path.join(root, "benchmarks", "evaluator", "official_problems.py")
    out = subprocess.run([sys.executable, runner, KERNELBENCH,
                          str(tmp_path), "--sample", sample, "--jobs", "2", "--trials", "1"],
                         capture_output=True, text=True, timeout=1200,
                         env=dict(os.environ, PYTHONPATH=os.path.join(root, "src"), TRITON_INTERPRET="1"))
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in open(tmp_path / "official.jsonl")]
    names = [k for k in json.load(open(sample)) if not k.startswith("_")]
    assert sorted(r["problem"] for r in rows) == sorted(names)
    assert all(r["verdict"] == "pass" and not r["traceback"] for r in rows), \
        [(r["problem"], r["verdict"], r["reason"]) for r in rows if r["verdict"] != "pass" or r["traceback"]]
