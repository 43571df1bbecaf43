"""Evaluation of candidates on every GPU of the machine: a pool of slots, one GPU each (or, without a GPU, one CPU
process each), that runs lint → check → bench → profile for one candidate at a time per slot, so that no two timings
share a GPU. Every step is a fresh `python -m lsemish` process pinned to its slot's GPU (CUDA_VISIBLE_DEVICES), and
each runs the candidate in a sandboxed worker of its own: a step that crashed or faulted leaves nothing behind, and
the slot's next candidate starts clean."""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import shutil
import queue
import subprocess
import sys
import time
from dataclasses import dataclass

from ..problems import PROBLEM_22
from . import children

_STEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TRITON_INTERPRET", "TMPDIR",
             "CUDA_HOME", "LD_LIBRARY_PATH", "TRITON_PTXAS_PATH", "TRITON_LIBCUDA_PATH")


def step_environment(gpu=None):
    """The environment of check, bench and profile: what they need, not the agent's keys or tokens; pinned to
    `gpu` when given, and then to that GPU's share of this process's CPUs (cpu_share)."""
    env = {k: os.environ[k] for k in _STEP_ENV if k in os.environ}
    if gpu is not None:
        visible = visible_gpus()
        env["CUDA_VISIBLE_DEVICES"] = visible[int(gpu)] if visible else str(gpu)
        share = cpu_share(gpu, gpus=len(visible) if visible else None)
        if share:
            env["LSEMISH_CPUS"] = ",".join(map(str, share))
    elif "CUDA_VISIBLE_DEVICES" in os.environ:  # a Ray task's GPU, say: its share of the node's CPUs
        env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        share = cpu_share(env["CUDA_VISIBLE_DEVICES"])
        if share:
            env["LSEMISH_CPUS"] = ",".join(map(str, share))
    return env


def visible_gpus():
    """The GPUs this process was given by CUDA_VISIBLE_DEVICES (the driver's ids or UUIDs, in its order), None when
    it is not set. A slot is an index among them: slot 0 of a loop run with CUDA_VISIBLE_DEVICES=1 is the machine's
    GPU 1, and its steps must be pinned there, not to the machine's GPU 0."""
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return None
    return [v.strip() for v in spec.split(",") if v.strip()]


def machine_gpus():
    """The machine's NVIDIA GPUs, whatever CUDA_VISIBLE_DEVICES shows this process (the driver's list), else the
    count torch sees."""
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        import torch
        return torch.cuda.device_count() if torch.cuda.is_available() else 0


def cpu_share(gpu, gpus=None, cpus=None):
    """The CPUs of GPU `gpu`'s steps: this process's CPUs split evenly among the machine's GPUs (gpus: their count),
    so that benches on different GPUs at once pin their timed workers to different CPUs (bench pins each timed
    worker to one CPU of its share: sandbox.timing_cpus); None on a machine of one GPU or too few CPUs. `gpu`: the
    machine's index of the GPU (a loop's slot, a Ray task's CUDA_VISIBLE_DEVICES)."""
    if gpus is None:
        gpus = machine_gpus()
    cpus = sorted(os.sched_getaffinity(0)) if cpus is None else sorted(cpus)
    each = len(cpus) // gpus if gpus else 0
    if gpus < 2 or each < 1 or not str(gpu).isdigit() or int(gpu) >= gpus:
        return None
    return cpus[int(gpu) * each:(int(gpu) + 1) * each]


def gpu_slots(spec):
    """The GPUs named by --gpus ('all' or '0,1,...'), [] without a GPU."""
    import torch
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if spec in (None, "all"):
        return [str(i) for i in range(count)]
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [i for i in ids if not i.isdigit() or int(i) >= count]
    if bad:
        raise SystemExit(f"--gpus {spec}: no such GPU {', '.join(bad)} (this machine has {count})")
    return ids


@dataclass
class Settings:
    """What every evaluation of one loop shares."""
    problem: str | None
    trials: int
    step_timeout: float
    call_timeout: float
    timed: bool
    sets: dict | None = None  # the problem's sizes, as --set NAME=VALUE

    def set_args(self):
        return [a for name, value in (self.sets or {}).items() for a in ("--set", f"{name}={value}")]


def run_logged(cmd, timeout, log_path, env=None):
    """(returncode or None when killed, its output, timed_out) of cmd under `timeout` (its whole process group
    killed then). The output (stdout and stderr, in order) goes to log_path as it comes, so that a step that hangs,
    or a loop stopped from outside, shows how far it got (a suite's bench on an H200 ran 270 s and left no line of
    where, session 17)."""
    with open(log_path, "w") as log:
        proc = children.start(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            rc, timed_out = proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            children.kill(proc)
            proc.wait()
            rc, timed_out = None, True
        finally:
            children.done(proc)
    if timed_out:
        with open(log_path, "a") as log:
            log.write(f"\n(killed after {timeout:g} s)\n")
    with open(log_path, errors="replace") as log:
        return rc, log.read(), timed_out


def _step(args, folder, name, settings, slot):
    """`python -m lsemish ARGS` in a child pinned to the slot, with the step's time limit, its output in
    folder/name.txt (run_logged)."""
    return run_logged([sys.executable, "-m", "lsemish", *args], settings.step_timeout,
                      os.path.join(folder, f"{name}.txt"),
                      env=dict(step_environment(slot), PYTHONUNBUFFERED="1", LSEMISH_PARENT_PID=str(os.getpid())))


def _bench_step(path, bench_dir, folder, settings, slot, with_compile):
    """`bench` of the candidate at `path` beside the reference (and torch.compile of it, `with_compile`), into
    bench_dir, as the step folder/bench.txt."""
    return _step(["bench", "--problem", settings.problem or PROBLEM_22, "--candidate", f"{path}:candidate"]
                 + ([] if with_compile else ["--no-compile"])
                 + ["--out", bench_dir, "--timeout", f"{settings.call_timeout:g}"] + settings.set_args(),
                 folder, "bench", settings, slot)


def _last_line(text):
    return (text.strip().splitlines() or ["(no output)"])[-1]


def _keep_log(report, folder):
    """What the candidate printed during check, moved from check's temporary folder into the candidate's own as
    candidate-log.txt (left in /tmp, a suite's runs scattered their logs there: a new user's finding, session 15)."""
    log = report.get("log")
    if not log or not os.path.isfile(log):
        return
    kept = os.path.join(folder, "candidate-log.txt")
    shutil.move(log, kept)
    try:
        os.rmdir(os.path.dirname(log))  # check's folder, empty once its one log is out
    except OSError:
        pass
    report["log"] = kept
    with open(os.path.join(folder, "check.json"), "w") as fh:
        json.dump(report, fh, indent=1)


def evaluate(path, folder, settings, slot=None):
    """lint, check, and on a GPU bench and profile: a record of what passed and what was measured."""
    rec = {}
    # in a child under the step's time limit: a file can be built to make the analysis slow (a red team's took
    # minutes) or to break it
    rc, out, timed_out = _step(["lint", path], folder, "lint", settings, slot)
    if timed_out:
        rec["status"] = f"lint: killed after {settings.step_timeout} s"
        return rec
    errors = [line for line in out.splitlines() if ": error [" in line]
    rec["lint_errors"] = len(errors)
    if errors:
        rec["status"] = f"lint: {len(errors)} error(s), first: {errors[0]}"
        return rec
    if rc != 0:
        rec["status"] = f"lint failed: {_last_line(out)[:300]}"
        return rec
    problem = (["--problem", settings.problem] if settings.problem else []) + settings.set_args()
    check = ["check", "--candidate", path, "--trials", str(settings.trials), "--timeout", f"{settings.call_timeout:g}",
             "--json", os.path.join(folder, "check.json")] + problem
    rc, out, timed_out = _step(check, folder, "check", settings, slot)
    if timed_out:
        rec["status"] = f"check: killed after {settings.step_timeout} s"
        return rec
    try:
        with open(os.path.join(folder, "check.json")) as fh:
            report = json.load(fh)
    except (OSError, ValueError):
        rec["status"] = f"check failed: {_last_line(out)[:300]}"
        return rec
    _keep_log(report, folder)
    rec["check"] = f"{report['passed']}/{report['passed'] + report['failed']}"
    rec["check_summary"] = report["summary"]
    if report["verdict"] != "pass" or rc != 0:
        rec["status"] = f"check failed: {report['reason']}"
        return rec
    rec["status"] = "pass"
    if not settings.timed:
        return rec
    bench_dir = os.path.join(folder, "bench")
    rc, out, timed_out = _bench_step(path, bench_dir, folder, settings, slot, with_compile=False)
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
        rec["status"] = "pass (bench failed: " + ("timeout" if timed_out else _last_line(out)[-200:]) + ")"
    profile = ["profile", "--candidate", path, "--out", os.path.join(folder, "profile.json")] + problem
    rc, out, timed_out = _step(profile, folder, "profile", settings, slot)
    if rc == 0 and not timed_out:
        with open(os.path.join(folder, "profile.json")) as fh:
            rec["metrics"] = json.load(fh)
    else:  # the candidate keeps its verdict and time; the next prompt has no metrics of it, and the record says why
        rec["profile"] = (f"killed after {settings.step_timeout:g} s" if timed_out
                          else f"failed: {_last_line(out)[:300]}")
    return rec


def final_bench(path, folder, settings, slot=None):
    """The best candidate of a problem's search (`path`: its own file, where its round checked it) timed once more,
    beside the reference eager and torch.compile in one bench, into `folder` (issue 25: a suite's speedups against
    both baselines, each a ratio measured in one process with the contenders interleaved; the loop's own benches
    leave torch.compile out, whose compile is the problem's, not each candidate's). A record: status "timed" with
    call_ms, eager_call_ms and compile_call_ms; "rejected in bench: ..." (the candidate's own rejection, beside a
    timed reference); or "bench failed: ..." (anything else: no figures). Each round's figures stay in
    folder/bench/bench.json (report reads them there)."""
    bench_dir = os.path.join(folder, "bench")
    shutil.rmtree(bench_dir, ignore_errors=True)  # nothing of an earlier attempt is read as this one's
    rc, out, timed_out = _bench_step(path, bench_dir, folder, settings, slot, with_compile=True)
    if timed_out or rc != 0:
        return {"status": "bench failed: " + ("timeout" if timed_out else _last_line(out)[-200:])}
    try:
        with open(os.path.join(bench_dir, "bench.json")) as fh:
            rows = {r["name"]: r for r in json.load(fh)["rows"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"status": "bench failed: no readable bench.json"}
    eager, comp, cand = (rows.get(n) or {} for n in ("reference-eager", "reference-compile", "candidate"))
    if not eager.get("call_ms"):  # the evaluator's failure, not the candidate's
        return {"status": f"bench failed: the reference was not timed ({eager.get('rejected')})"}
    if cand.get("rejected"):
        return {"status": f"rejected in bench: {cand['rejected']}"}
    if not cand.get("call_ms"):
        return {"status": "bench failed: the candidate has no time"}
    return {"status": "timed", "call_ms": cand["call_ms"], "eager_call_ms": eager["call_ms"],
            "compile_call_ms": comp.get("call_ms"), "compile_note": comp.get("rejected")}


class Pool:
    """Slots (GPU ids, or None for CPU processes); `submit(fn)` runs fn(slot) on the next free slot."""

    def __init__(self, slots):
        self.slots = list(slots)
        self.free = queue.Queue()
        for s in self.slots:
            self.free.put(s)
        self.executor = cf.ThreadPoolExecutor(len(self.slots))

    def submit(self, fn, *args):
        def run():
            slot = self.free.get()
            try:
                return fn(*args, slot=slot)
            finally:
                self.free.put(slot)
        return self.executor.submit(run)

    def evaluate(self, path, folder, settings):
        """A future of evaluate(path, folder, settings) on the next free slot."""
        def timed(slot):
            started = time.monotonic()
            rec = evaluate(path, folder, settings, slot)
            rec.update(eval_s=round(time.monotonic() - started, 1), slot=slot)  # where a search's wall time goes
            return rec
        return self.submit(timed)

    def final_bench(self, path, folder, settings):
        """A future of final_bench(path, folder, settings) on the next free slot."""
        return self.submit(final_bench, path, folder, settings)

    def shutdown(self):
        self.executor.shutdown(wait=True)
