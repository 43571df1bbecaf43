"""The seed's optimization loop: prompt -> agent -> lint -> check -> bench -> profile, round after round.

Each round writes the prompt for the current code, runs the agent command with the prompt on its standard input
(with a time limit), takes the first fenced python block of its answer as the candidate, and evaluates it: lint here,
then check, bench and profile in child processes with a time limit (a crashing or hanging candidate ends only its
round). The fastest candidate that passes lint and check becomes the next round's current code. Everything goes into
the output folder; a folder that already holds a run is resumed.

Without a GPU, check runs through Triton's interpreter (problem 22 at check's small CPU shape), timing and profiling
are skipped, and the newest passing candidate is kept (nothing measured says which is faster).
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from . import deliverable_source
from .problems import PROBLEM_22
from .prompt import build_prompt, resolve_gpu

FENCE = re.compile(r"```(?:python|py)[ \t]*\n(.*?)```", re.S)
NO_GPU_METRICS = {"unavailable": "no GPU on the machine that ran this loop: metrics not measured"}


def extract_code(answer: str) -> str | None:
    """The first fenced python block of an answer, or None."""
    match = FENCE.search(answer)
    return match.group(1) if match and match.group(1).strip() else None


def run_limited(cmd, timeout, stdin_text=None, shell=False, env=None):
    """(returncode, stdout, stderr, timed_out) of cmd; on timeout its whole process group is killed."""
    proc = subprocess.Popen(cmd, shell=shell, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env=env)
    try:
        out, err = proc.communicate(stdin_text, timeout=timeout)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out, err, True


_STEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TRITON_INTERPRET", "TMPDIR",
             "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "LD_LIBRARY_PATH", "TRITON_PTXAS_PATH", "TRITON_LIBCUDA_PATH")


def step_environment():
    """The environment of check, bench and profile: what they need, not the agent's keys or tokens."""
    return {k: os.environ[k] for k in _STEP_ENV if k in os.environ}


def is_better(rec, best, timed):
    """Does rec become the best? Only a candidate that passed lint and check can; then, timed (on a GPU), the lower
    per-call latency wins; untimed, the newer candidate."""
    if not rec["status"].startswith("pass"):
        return False
    return best is None or not timed or rec.get("call_ms", float("inf")) < best.get("call_ms", float("inf"))


def _gpu_available():
    import torch
    return torch.cuda.is_available()


class Loop:
    def __init__(self, agent, problem, out, gpu, stage, agent_timeout, step_timeout, trials, call_timeout=120.0):
        self.agent, self.problem, self.out = agent, problem, out
        self.gpu_spec, self.stage = gpu, stage
        self.agent_timeout, self.step_timeout, self.trials = agent_timeout, step_timeout, trials
        self.call_timeout = call_timeout
        self.has_gpu = _gpu_available()

    def _lsemish(self, args, folder, name):
        """Run `python -m lsemish ARGS` in a child with the step time limit and an environment without the agent's
        secrets (a candidate's worker is a grandchild of it); keep its output in folder/name.txt."""
        rc, out, err, timed_out = run_limited([sys.executable, "-m", "lsemish", *args], self.step_timeout,
                                              env=step_environment())
        with open(os.path.join(folder, f"{name}.txt"), "w") as fh:
            fh.write(out + ("\n" + err if err else "") + (f"\n(killed after {self.step_timeout} s)" if timed_out
                                                           else ""))
        return rc, out, err, timed_out

    def evaluate(self, path, folder):
        """lint, check, and on a GPU bench and profile: a record of what passed and what was measured."""
        from .lint import lint_file
        rec = {"candidate": os.path.relpath(path, self.out)}
        findings = lint_file(path)
        with open(os.path.join(folder, "lint.txt"), "w") as fh:
            fh.write("\n".join(map(str, findings)) + "\n")
        errors = [f for f in findings if f.severity == "error"]
        rec["lint_errors"] = len(errors)
        if errors:
            rec["status"] = f"lint: {len(errors)} error(s), first: {errors[0]}"
            return rec
        check = ["check", "--candidate", path, "--trials", str(self.trials), "--timeout", f"{self.call_timeout:g}",
                 "--json", os.path.join(folder, "check.json")] + (["--problem", self.problem] if self.problem else [])
        rc, out, err, timed_out = self._lsemish(check, folder, "check")
        if timed_out:
            rec["status"] = f"check: killed after {self.step_timeout} s"
            return rec
        try:
            with open(os.path.join(folder, "check.json")) as fh:
                report = json.load(fh)
        except (OSError, ValueError):
            last = (err.strip().splitlines() or out.strip().splitlines() or ["(no output)"])[-1]
            rec["status"] = f"check failed: {last[:300]}"
            return rec
        rec["check"] = f"{report['passed']}/{report['passed'] + report['failed']}"
        rec["check_summary"] = report["summary"]
        if report["verdict"] != "pass" or rc != 0:
            rec["status"] = f"check failed: {report['reason']}"
            return rec
        rec["status"] = "pass"
        if not self.has_gpu:
            return rec
        problem = self.problem or PROBLEM_22
        bench_dir = os.path.join(folder, "bench")
        rc, _, err, timed_out = self._lsemish(["bench", "--problem", problem, "--candidate", f"{path}:candidate",
                                               "--no-compile", "--out", bench_dir, "--timeout",
                                               f"{self.call_timeout:g}"], folder, "bench")
        try:
            with open(os.path.join(bench_dir, "bench.json")) as fh:
                rows = {r["name"]: r for r in json.load(fh)["rows"]}
        except (OSError, ValueError):
            rows = None
        if rc == 0 and rows and not rows["candidate"].get("rejected"):
            rec.update(call_ms=rows["candidate"]["call_ms"], gpu_ms=rows["candidate"].get("gpu_ms"),
                       eager_call_ms=rows["reference-eager"]["call_ms"],
                       speedup_vs_eager=rows["reference-eager"]["call_ms"] / rows["candidate"]["call_ms"])
        elif rows and rows["candidate"].get("rejected"):
            rec["status"] = f"rejected in bench: {rows['candidate']['rejected']}"
            return rec
        else:
            rec["status"] = "pass (bench failed: " + ("timeout" if timed_out else err.strip()[-200:]) + ")"
        profile = ["profile", "--candidate", path, "--out", os.path.join(folder, "profile.json")]
        rc, _, err, _ = self._lsemish(profile + (["--problem", self.problem] if self.problem else []), folder,
                                      "profile")
        if rc == 0:
            with open(os.path.join(folder, "profile.json")) as fh:
                rec["metrics"] = json.load(fh)
        return rec

    def run_round(self, number, current_code, current_metrics):
        folder = os.path.join(self.out, f"round-{number:02d}")
        os.makedirs(folder, exist_ok=True)
        prompt = build_prompt(current_code, current_metrics, self.gpu_spec, self.stage)
        with open(os.path.join(folder, "prompt.txt"), "w") as fh:
            fh.write(prompt)
        started = time.time()
        rc, answer, err, timed_out = run_limited(self.agent, self.agent_timeout, stdin_text=prompt, shell=True)
        rec = {"round": number, "agent_s": round(time.time() - started, 2)}
        with open(os.path.join(folder, "answer.txt"), "w") as fh:
            fh.write(answer)
        if timed_out:
            rec["status"] = f"agent: no answer within {self.agent_timeout} s"
            return rec
        if rc != 0:
            rec["status"] = f"agent: exit {rc}: {(err.strip().splitlines() or [''])[-1][:200]}"
            return rec
        code = extract_code(answer)
        if code is None:
            rec["status"] = "agent: no fenced python block in the answer"
            return rec
        path = os.path.join(folder, "candidate.py")
        with open(path, "w") as fh:
            fh.write(code)
        rec.update(self.evaluate(path, folder))
        return rec


def run_loop(agent, rounds, problem=None, start=None, out="loop-out", gpu="4090", stage_file=None,
             agent_timeout=600, step_timeout=900, trials=5, log=print, call_timeout=120.0):
    """Run (or resume) the loop until `rounds` agent rounds are done; returns the summary table."""
    if start is None and problem is not None:
        raise SystemExit("loop: --candidate (the starting code) is needed for a problem other than 22")
    os.makedirs(out, exist_ok=True)
    stage = open(stage_file).read() if stage_file else None
    loop = Loop(agent, problem, out, resolve_gpu(gpu), stage, agent_timeout, step_timeout, trials, call_timeout)
    state_path = os.path.join(out, "state.json")
    if os.path.exists(state_path):
        with open(state_path) as fh:
            state = json.load(fh)
        if state["problem"] != problem or state["agent"] != agent:
            raise SystemExit(f"loop: {out} holds a run of another problem or agent; use another --out")
        log(f"resuming {out}: {len(state['rounds']) - 1} round(s) done")
    else:
        folder = os.path.join(out, "round-00")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "candidate.py")
        with open(path, "w") as fh:
            fh.write(open(start).read() if start else deliverable_source())
        log("round 0: the starting code")
        rec = {"round": 0, "source": start or "lsemish deliverable"}
        rec.update(loop.evaluate(path, folder))
        state = {"problem": problem, "agent": agent, "rounds": [rec],
                 "best": 0 if is_better(rec, None, loop.has_gpu) else None}
    if not loop.has_gpu:
        log("no GPU: bench and profile are skipped; the newest candidate that passes lint and check is kept")
    while len(state["rounds"]) <= rounds:
        number = len(state["rounds"])
        best = state["rounds"][state["best"]] if state["best"] is not None else None
        current = best or state["rounds"][0]
        with open(os.path.join(out, current["candidate"])) as fh:
            code = fh.read()
        log(f"round {number}: agent")
        rec = loop.run_round(number, code, current.get("metrics", NO_GPU_METRICS if not loop.has_gpu else {}))
        if is_better(rec, best, loop.has_gpu):
            state["best"] = number
        state["rounds"].append(rec)
        log(f"round {number}: {rec['status']}")
        with open(state_path, "w") as fh:
            json.dump(state, fh, indent=1)
    with open(state_path, "w") as fh:
        json.dump(state, fh, indent=1)
    return write_summary(state, out, loop.has_gpu)


def _short(text, width=160):
    """text cut at a word boundary, with an ellipsis, where it is longer than width."""
    text = text.replace("|", "/")
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " …"


def write_summary(state, out, timed):
    rows = ["| round | status | check | per-call ms | GPU ms | × eager (per call) | best so far |",
            "|---|---|---|---|---|---|---|"]
    best_so_far = None
    for rec in state["rounds"]:
        if is_better(rec, best_so_far, timed):
            best_so_far = rec
        fmt = (lambda k, f: f.format(rec[k]) if k in rec else "—")
        rows.append(f"| {rec['round']} | {_short(rec['status'])} | {rec.get('check', '—')} | "
                    f"{fmt('call_ms', '{:.4f}')} | {fmt('gpu_ms', '{:.4f}')} | {fmt('speedup_vs_eager', '{:.2f}')} | "
                    f"{best_so_far['round'] if best_so_far else '—'} |")
    best = state["best"]
    note = ("timings: KernelBench's per-call latency on this GPU" if timed else
            "no GPU: untimed; the newest candidate that passed lint and check is kept")
    text = "\n".join([f"Problem: {state['problem'] or 'KernelBench level 2, problem 22'}; agent: `{state['agent']}`",
                      note, f"best: round {best}" if best is not None else "best: none passed", ""] + rows) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(state, fh, indent=1)
    if best is not None:
        with open(os.path.join(out, state["rounds"][best]["candidate"])) as src, \
                open(os.path.join(out, "best.py"), "w") as dst:
            dst.write(src.read())
    _chart(state, os.path.join(out, "summary.png"), timed)
    return text


def _chart(state, path, timed):
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    recs = state["rounds"]
    for rec in recs:
        ok = rec["status"].startswith("pass")
        y = rec.get("call_ms", 1.0) if timed else (1.0 if ok else 0.0)
        ax.scatter(rec["round"], y, color="tab:green" if ok else "tab:red", zorder=3)
        ax.annotate(rec["status"][:24], (rec["round"], y), fontsize=7, rotation=20)
    ax.set_xlabel("round")
    ax.set_ylabel("per-call ms (KernelBench)" if timed else "passed lint and check")
    ax.set_title("lsemish loop" + ("" if timed else " (no GPU: untimed)"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
