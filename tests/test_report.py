"""Suite reports: KernelBench's score formulas on hand-made data (the values its score.py gives), and `report DIR`
over made-up loop runs."""
import json
import os
import subprocess
import sys

import pytest

from lsemish.report.scores import fast_p, geomean_correct, geomean_correct_and_faster, scores

# Five problems: correct or not, the baseline's time, the kernel's time.
CORRECT = [True, True, False, True, True]
BASE = [10.0, 4.0, 5.0, 2.0, 9.0]
ACTUAL = [2.0, 4.0, 1.0, 4.0, 3.0]  # speedups of the correct ones: 5, 1, 0.5, 3


def test_fast_p_counts_correct_and_faster_over_all_problems():
    assert fast_p(CORRECT, BASE, ACTUAL, 0.0) == 4 / 5
    assert fast_p(CORRECT, BASE, ACTUAL, 1.0) == 2 / 5  # strictly faster: the 1x one does not count
    assert fast_p(CORRECT, BASE, ACTUAL, 1.5) == 2 / 5
    assert fast_p(CORRECT, BASE, ACTUAL, 3.0) == 1 / 5
    assert fast_p([], [], [], 1.0) == 0.0


def test_geomeans_are_over_correct_kernels_only():
    assert geomean_correct(CORRECT, BASE, ACTUAL) == pytest.approx((5 * 1 * 0.5 * 3) ** (1 / 4))
    assert geomean_correct_and_faster(CORRECT, BASE, ACTUAL) == pytest.approx((5 * 3) ** 0.5)
    assert geomean_correct([False], [1.0], [1.0]) == 0.0 and geomean_correct_and_faster([True], [1.0], [2.0]) == 0.0
    s = scores(CORRECT, BASE, ACTUAL)
    assert s["n"] == 5 and s["correct"] == 4 and s["fast_p"][2.0] == 2 / 5


def _run(folder, name, best_ms, eager_ms, compile_ms=None, correct=True, final_of="r02-p0-s1", final="timed",
         file="summary.json", rounds=None):
    os.makedirs(folder / name)
    cands = [{"id": "r00", "round": 0, "status": "check failed: x"}]
    if correct:
        cands.append({"id": "r02-p0-s1", "round": 2, "status": "pass", "call_ms": best_ms * 1.1,
                      "eager_call_ms": eager_ms})
    state = {"candidates": cands, "best": "r02-p0-s1" if correct else None}
    if correct:  # the loop's last bench of its best, beside eager and torch.compile (search.loop.final_bench)
        state["final"] = {"id": final_of, "status": final, "call_ms": best_ms, "eager_call_ms": eager_ms,
                          "compile_call_ms": compile_ms}
    if rounds:  # its final bench's own record of each round (final/<id>/bench/bench.json)
        names = {"candidate": "candidate", "eager": "reference-eager", "compile": "reference-compile"}
        bench = folder / name / "final" / final_of / "bench"
        bench.mkdir(parents=True)
        bench.joinpath("bench.json").write_text(json.dumps({"rows": [
            {"name": names[k], "per_round": [{"call_ms": v} for v in ms]} for k, ms in rounds.items()]}))
    (folder / name / file).write_text(json.dumps(state))


def test_report_over_loop_runs(tmp_path):
    runs = tmp_path / "suite"
    _run(runs, "p1", 1.0, 4.0, 2.0)
    _run(runs, "p2", 2.0, 3.0, 1.0, final_of="r01-p0-s0")  # a final of an earlier best: not this best's figures
    _run(runs, "p3", None, None, correct=False)
    _run(runs, "p4", 0.01, 3.0, final="rejected in bench: work outside the timed calls")  # caught at the end
    _run(runs, "p5", 0.01, 3.0, final="bench failed: timeout")  # no figure stands: correct, untimed
    _run(runs, "p6", 1.0, 2.0, 3.0, rounds={"candidate": [1.0, 0.5, 2.0], "eager": [2.0, 2.0, 1.0],
                                           "compile": [3.0, None, 3.0]})  # the rounds' own ratios: their spread
    _run(runs, "p7", 1.0, 2.0, rounds={"candidate": [1.0, 1.0], "eager": [2.0, 3.0]})  # no torch.compile rows
    (runs / "not-a-run").mkdir()
    r = subprocess.run([sys.executable, "-m", "lsemish", "report", str(runs)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (runs / "suite.md").read_text()
    assert "7 problem(s), 5 with a correct kernel" in text
    assert "| p7 | yes | 1.0000 | 2.00 (2.00–3.00) | — | 2 |" in text
    assert "| p6 | yes | 1.0000 | 2.00 (0.50–4.00) | 3.00 (1.50–3.00) | 2 |" in text
    assert "in brackets the least and the most of the rounds' own ratios" in text
    assert "| p5 | yes | — | — | — | 2 |" in text
    assert "p5: correct, untimed: its final bench failed (timeout)" in text
    assert "| p4 | no (rejected in its final bench) | — |" in text
    assert "p4: its best, timed once more, was rejected" in text
    assert "| p1 | yes | 1.0000 | 4.00 | 2.00 | 2 |" in text and "| p3 | no | — | — | — | — |" in text
    assert "| p2 | yes | 2.2000 | 1.36 | — | 2 |" in text  # its own round's bench: no torch.compile there
    data = json.loads((runs / "suite.json").read_text())
    assert data["vs_eager"]["fast_p"]["1.5"] == pytest.approx(3 / 7)  # 4x, 2x, 2x and 1.5x: three above 1.5
    assert data["vs_eager"]["fast_p"]["1.0"] == pytest.approx(4 / 7)
    assert data["vs_eager"]["untimed"] == 1
    assert data["vs_compile"]["untimed"] == 3 and data["vs_compile"]["fast_p"]["1.0"] == pytest.approx(2 / 7)
    assert (runs / "fast_p.png").exists()


def test_a_run_cut_short_counts_what_it_evaluated_and_says_so(tmp_path):
    # A suite stopped by a timeout (the GPU machine's, session 22): its runs have the loop's state.json, no
    # summary.json yet; the report scores what they evaluated and names them as unfinished, not as absent.
    runs = tmp_path / "suite"
    _run(runs, "done", 1.0, 4.0, 2.0)
    _run(runs, "cut", 1.0, 2.0, correct=True, final="timed", file="state.json")
    os.makedirs(runs / "fresh")
    (runs / "fresh" / "state.json").write_text(json.dumps({"candidates": [{"id": "r00", "round": 0}], "best": None}))
    os.makedirs(runs / "started" / "round-00" / "start")  # stopped before the loop wrote its state
    r = subprocess.run([sys.executable, "-m", "lsemish", "report", str(runs)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (runs / "suite.md").read_text()
    assert "4 problem(s), 2 with a correct kernel" in text
    assert "| fresh | no (nothing evaluated yet) |" in text and "| started | no (nothing evaluated yet) |" in text
    assert "- cut: its run was cut short (resume it with the same --out) after 2 evaluated candidate(s)" in text
    assert "- fresh: its run was cut short" in text and "- done: its run" not in text
    assert "| cut | yes | 1.0000 | 2.00 |" in text  # its final bench had run: its figures stand


def test_report_on_a_folder_without_runs_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lsemish", "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == f"report: no loop runs in {tmp_path} (a run is a subfolder " \
                                                     "with summary.json or state.json)"


def test_report_on_one_run_points_to_its_summary(tmp_path):
    runs = tmp_path / "suite"
    _run(runs, "p1", 1.0, 4.0, 2.0)
    r = subprocess.run([sys.executable, "-m", "lsemish", "report", str(runs / "p1")], capture_output=True, text=True)
    assert r.returncode == 1 and "is one loop run (its summary is" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("record,why", [({}, "no list of candidates"), ([], "a JSON list, not an object"),
                                        ({"candidates": "x"}, "no list of candidates"),
                                        ({"candidates": [1, 2]}, "a candidate without an id and a round"),
                                        ({"candidates": [{"status": "pass"}]}, "a candidate without an id"),
                                        ({"candidates": [{"id": "a", "round": 0, "call_ms": "1"}]}, "not a number")])
def test_report_on_records_of_another_shape_is_one_line(tmp_path, record, why):
    # valid JSON that the loop did not write (a red team's, session 28: KeyError and TypeError tracebacks)
    (tmp_path / "p1").mkdir()
    (tmp_path / "p1" / "summary.json").write_text(json.dumps(record))
    r = subprocess.run([sys.executable, "-m", "lsemish", "report", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().startswith(f"report: {tmp_path / 'p1' / 'summary.json'} is not a loop's record") \
        and why in r.stderr, r.stderr
