"""Trusted side: KernelBench's correctness protocol for a candidate on any problem, with the candidate in its own
worker process and every judgement made here.

Per trial: a fresh seed; the reference here on the inputs that seed gives (and its float64 gold); the candidate in its
worker on the same seed's inputs; its outputs back as bytes, compared here. Trials run first on the problem's own
get_inputs() (KernelBench's protocol, its verdict reported as such), then on the same shapes from other
distributions (reported separately; a candidate passes only if it passes both). A worker that rejects itself (input
changed, replaced torch function, tensor subclass, thread left running) or fails (exit, crash, hang, limit) ends the
check with that reason.
"""
from __future__ import annotations

import os
import random
import secrets
import time

import torch

from ..problems import PROBLEM_22, ProblemError, is_problem_22, load_problem, sizes
from .compare import ALLCLOSE, BOTH, GOLD, compare
from .inputs import ALL, EDGES, GATED, GOLD_RULE, KERNELBENCH, LIKE_KERNELBENCH, NAMES
from .memory import does_not_fit, footprint_or_none, output_room, peak_bytes
from .reference import Reference
from .sandbox import Limits, Worker, WorkerFailed, clean, private_root, release_root
from .wire import CARRIED


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def deliverable_path():
    """lsemish's own deliverable as a candidate file (problem 22's default candidate)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "model_new.py")


def resolve_candidate(problem_path, candidate):
    if candidate is not None:
        if os.path.isdir(candidate):
            raise ProblemError(f"candidate {candidate} is a folder; give the file that defines ModelNew")
        return candidate
    if is_problem_22(problem_path):
        return deliverable_path()
    raise ProblemError(f"problem {problem_path}: --candidate FILE (the file defining ModelNew) is needed; "
                       "lsemish's own ModelNew solves problem 22 only")


def start_worker(problem_path, candidate, sets, seed, device, limits, scratch_root, model_kwargs=None,
                 compile_model=False, name="candidate", before_load=None, stand_in=None, output_bytes=None,
                 reply_device=None):
    """A worker with the candidate's ModelNew built (candidate None: the problem's own Model). Returns (worker,
    None) or (None, the one-line reason it could not be built). `before_load(worker)` runs once the worker holds the
    problem and its sandbox, before any candidate code is imported (bench's calibration), whose calls run the
    worker's stand-in model: `stand_in` (memory.footprint's output_shapes) gives its outputs the reference's shapes,
    so that the protocol's cost that grows with the outputs (their commitment) is in the calibration.
    `output_bytes`: the shared memory its outputs cross in (memory.output_room; sandbox.Worker); `reply_device`:
    where the large ones are put on arrival (sandbox.Worker)."""
    started = time.monotonic()
    try:
        worker = Worker(scratch_root, name, limits, triton_cache=limits.triton_cache, output_bytes=output_bytes,
                        reply_device=reply_device)
    except WorkerFailed as e:
        return None, str(e)
    phases = worker.phases = {}  # seconds of each step of the start, for the reader (where a bench's time goes)

    def lap(name):
        nonlocal started
        now = time.monotonic()
        phases[name] = round(now - started, 2)
        started = now
    try:
        reply, _ = worker.request({"op": "init", "problem": os.path.abspath(problem_path), "sets": sets or {},
                                   "candidate": candidate and os.path.abspath(candidate), "seed": seed,
                                   "device": device, "model_kwargs": model_kwargs or {}, "compile": compile_model,
                                   "stand_in_outputs": stand_in,
                                   "gpu_memory_fraction": limits.gpu_fraction if device == "cuda" else None},
                                  timeout=limits.setup_s, what="start")
        lap("start")
        if "error" not in reply and before_load is not None:
            try:
                before_load(worker)
            except BaseException:
                worker.close()  # whatever went wrong, no worker is left behind
                raise
            lap("before load")
        if "error" not in reply:
            reply, _ = worker.request({"op": "load"}, timeout=limits.setup_s, what="import and build")
            lap("import and build")
    except WorkerFailed as e:
        worker.close()
        return None, str(e)
    except ProblemError:  # this side's own shortage while receiving (sandbox): no worker is left behind
        worker.close()
        raise
    if "error" in reply:
        worker.close()
        return None, reply["error"]
    return worker, None


def unpredictable():
    """A random source for a run's input seeds (and bench's commitment keys), drawn from the operating system: fixed
    seeds are the same in every run, and a candidate that learned them (from an earlier verdict line, say) could carry
    a table of their answers and pass, or be timed at a lookup (red team, session 11). A trial's seed is reported with
    it, after the fact, to reproduce it."""
    return random.Random(secrets.randbits(64))


def run_check(problem_path=None, candidate=None, sets=None, trials=5, dists=ALL, seed=42, device=None,
              model_kwargs=None, tolerance=None, limits=Limits(), log=print):
    """The verdict of one candidate on one problem, as a dict: "verdict" ("pass"/"fail"), "reason" (why it failed,
    one line), "kernelbench" and "other" (passed/run counts; per distribution), "trials" (per-trial rows, each with
    its seed), "landlock" (None when file writes were confined, else why not), "log" (its captured output). `seed`
    makes the models' weights; the trials' inputs are drawn afresh for each run (unpredictable)."""
    device = device or default_device()
    problem_path = PROBLEM_22 if problem_path is None else problem_path
    problem = load_problem(problem_path, sets)
    if not hasattr(problem, "edge_inputs"):  # a problem's edge cases exist only where it defines them
        dists = tuple(d for d in dists if d != EDGES)
    candidate = resolve_candidate(problem_path, candidate)
    known = ", ".join(f"{k}={v}" for k, v in sizes(problem).items())
    size = footprint_or_none(problem)  # once: the fit, the dtypes it carries, the worker's shared output memory
    too_big = does_not_fit(size, device, known)
    if too_big:
        raise ProblemError(f"problem {problem_path} {too_big}")
    odd = uncarried_outputs(size)
    if odd:  # the evaluator's limit, said before any candidate is judged by it
        raise ProblemError(f"problem {problem_path} returns {odd}, which check cannot carry from its worker "
                           f"(it carries {', '.join(sorted(CARRIED))})")
    # first: a problem whose own Model cannot be built is not the candidate's; its outputs stay on the device, where
    # the comparison runs (memory.check_needs counts them)
    ref = Reference(problem, seed, device, outputs_on_device=True)
    on_device, inputs_note = draws_on_device(ref)
    rng = unpredictable()
    plan = _plan(dists, trials, rng)
    scratch_root = private_root("lsemish-check-")
    report = {"problem": problem_path, "candidate": candidate, "device": device, "sets": sets or {},
              "verdict": "fail", "reason": None, "trials": [], "landlock": None, "log": None}
    try:
        worker, why = start_worker(problem_path, candidate, sets, seed, device, limits, scratch_root, model_kwargs,
                                   output_bytes=output_room(size), reply_device="cuda" if device == "cuda" else None)
    except ProblemError:
        release_root(scratch_root, keep=False)
        raise
    if worker is None:
        release_root(scratch_root, keep=False)
        report["reason"] = why
        log(f"FAIL  {why}")
        return _finish(report, dists, plan)
    report["landlock"] = worker.landlock_note
    if inputs_note:
        report["inputs_note"] = inputs_note
        log(f"note: {inputs_note}")
    if worker.landlock_note:
        log(f"note: {worker.landlock_note}")
    try:
        for dist, trial, seed in plan:
            reuse = rng.randrange(2**31) if trial in PROBES else None
            row = run_trial(worker, ref, dist, trial, seed, tolerance, reuse, PROBES.get(trial, "half"), on_device)
            report["trials"].append(row)
            if ref.gold_note and not report.get("gold_note"):
                report["gold_note"] = ref.gold_note
                log(f"note: {ref.gold_note}")
            log(_trial_line(row))
            if row.get("final"):
                report["reason"] = row["reason"]
                return _finish(report, dists, plan)
        if ref.constant():
            report["constant_note"] = ("the reference's outputs were the same for every input drawn: at these sizes "
                                       "they do not depend on the inputs, so a constant answer passes this check")
            log(f"note: {report['constant_note']}")
    finally:
        report["peak_bytes"] = _peaks(report["trials"], device)
        report["log"], report["log_bytes"] = worker.log_path, worker.log_bytes
        worker.close()
        removed = release_root(scratch_root, keep=bool(worker.log_bytes))  # kept only for the candidate's log
        if not worker.log_bytes:
            report["log"] = None
        left = worker.left_behind or (None if removed else scratch_root)
        if left:
            report["left_behind"] = left
            log(f"note: could not remove the candidate's folder {left}")
    return _finish(report, dists, plan)


def _peaks(rows, device):
    """{"trusted": this process's peak memory (GPU allocator or resident set), "worker": the largest the worker
    reported (None if none)}, bytes."""
    trusted = peak_bytes(device)
    reported = [r["worker_peak_bytes"] for r in rows if "worker_peak_bytes" in r]
    return {"trusted": trusted, "worker": max(reported) if reported else None}


PROBES = {"reuse": "half", "reuse-one": "one"}  # the reuse probes by their trial label, and what each refills


def _plan(dists, trials, rng):
    """(dist, trial, seed) in order; the reuse probe ("reuse": half the inputs new) follows the first trial of the
    first distribution, on its seed, and the one-value probe ("reuse-one") its second trial (with one trial each, the
    second distribution's), on its own."""
    plan = [(dist, trial, rng.randrange(2**31)) for dist in dists for trial in range(trials)]
    anchors = [k for k, (dist, _, _) in enumerate(plan) if dist == plan[0][0]][:2] if plan else []
    if len(anchors) == 1 and len(plan) > 1:
        anchors.append(1)
    # KernelBench's trials and the gated ones in an order drawn for this run: the worker is not told which is which
    # (run_trial), and a candidate counting its calls cannot tell them apart either
    mixed = [k for k, (dist, _, _) in enumerate(plan) if dist in LIKE_KERNELBENCH]
    anchored = [plan[k] for k in anchors]
    for k, entry in zip(mixed, rng.sample([plan[k] for k in mixed], len(mixed))):
        plan[k] = entry
    for label, entry in reversed(list(zip(("reuse", "reuse-one"), anchored))):  # each right after its trial
        at = plan.index(entry)
        plan.insert(at + 1, (entry[0], label, entry[2]))
    return plan


def _trial_line(row):
    label = f"{row['dist']:11s} " + {"reuse": "reuse probe", "reuse-one": "reuse probe (one value)"}.get(
        row["trial"], f"trial {row['trial']}")
    if not row["passed"]:
        return f"{label}: FAIL  {row['reason']}"
    detail = "; ".join(f"out{x['index']}: max-abs {x['max_abs_vs_eager']:.2e} vs eager (allclose atol=rtol="
                       f"{x['tolerance']:g})" + (f", rel-L2 {x['rel_l2_vs_fp64']:.2e} vs fp64"
                                                 if x.get("rel_l2_vs_fp64") is not None else "")
                       for x in row["outputs"] if "max_abs_vs_eager" in x)
    return f"{label}: PASS  {detail}"


def rule_for(dist, probe=False):
    """How a distribution's trials are judged: KernelBench's inputs as KernelBench judges them (allclose), except a
    reuse probe (the one call a candidate can recognise, its input memory again: a red team's softmax was right on
    fresh memory and a constant on the same memory), judged as the gated trials are; the others by allclose and
    against the float64 result, or (inputs of large or small magnitude) against it alone."""
    return ALLCLOSE if dist == KERNELBENCH and not probe else GOLD if dist in GOLD_RULE else BOTH


def uncarried_outputs(size):
    """The first of the reference's output dtypes the wire cannot carry ("a float8_e4m3fn output"), from its outputs
    on the meta device (`size`: memory.footprint_or_none's); None when all can be, or where the meta device cannot
    run the problem."""
    shapes = (size or {}).get("output_shapes") or []
    odd = [s[1] for s in shapes if s is not None and s[1] not in CARRIED]
    return f"a {odd[0]} output" if odd else None


def draws_on_device(ref):
    """(True, None) where the problem's get_inputs() runs with the device as torch's default (every trial's inputs are
    then drawn there, on both sides); (False, why) where it fails there (its inputs are then drawn on the host, as
    KernelBench draws them) or the device is the CPU (False, None)."""
    if ref.device == "cpu":
        return False, None
    try:
        ref.inputs(0, KERNELBENCH, on_device=True)
    except Exception as e:
        return False, (f"get_inputs() fails with {ref.device} as the default device ({type(e).__name__}); inputs "
                       "are drawn on the host, slower for large ones")
    finally:
        torch.cuda.empty_cache()  # the worker shares the device: nothing of the probe stays cached here
    return True, None


def run_trial(worker, ref, dist, trial, seed, tolerance, reuse=None, span="half", on_device=False):
    """One trial (or, with `reuse`, a reuse probe on the last trial's inputs, `span` of them refilled: "half" or
    "one" value) judged here: a row with "passed", "reason", per-output errors, and "final" when the worker failed
    or rejected itself."""
    row = {"dist": dist, "trial": trial, "seed": seed, "passed": False, "reason": None, "outputs": []}
    expected, gold = ref.run(seed, dist, reuse=reuse, span=span, on_device=on_device)
    poison = sum(t.numel() * t.element_size() for t in expected if isinstance(t, torch.Tensor))
    what = f"trial {trial} on {dist} inputs" if reuse is None else "the reuse probe (its last inputs, refilled)"
    try:
        # gated inputs are made as KernelBench's are, and the worker is told they are KernelBench's: a candidate
        # that rewrites its worker could otherwise read which trial is judged against float64
        sent = KERNELBENCH if dist == GATED else dist
        reply, got = worker.request({"op": "trial", "seed": seed, "dist": sent, "poison_bytes": poison,
                                     "on_device": on_device,
                                     "reuse": reuse, "span": span}, what=what)
    except WorkerFailed as e:
        row.update(reason=str(e), final=True)
        return row
    if "rejected" in reply or "error" in reply:
        row.update(reason=reply.get("rejected") or reply["error"], final=bool(reply.get("cheat") or reply.get(
            "fatal")), rejected=bool(reply.get("cheat")))
        return row
    if isinstance(reply.get("peak_bytes"), int):
        row["worker_peak_bytes"] = reply["peak_bytes"]
    if reply.get("poisoned") is False:  # the worker's word, for the reader: no verdict rests on it
        row["note"] = "no device memory was left to fill with NaN before the call"
    verdict = compare(got, expected, gold, tolerance, rule=rule_for(dist, probe=reuse is not None))
    if reply.get("structure") != ref.structure:  # a tuple of one tensor where a tensor is due: not a drop-in
        verdict.update(passed=False, reason=f"returned {clean(str(reply.get('structure')), 40)}, the reference "
                                            f"{ref.structure}")
    reason = verdict["reason"]
    if reuse is not None and reason:
        # stale only if it is the answer to the inputs before the refill; otherwise a plain failure on new inputs
        del expected, gold  # on the device: room for the answer before the refill (no gold needed for it)
        before, _ = ref.run(seed, dist, gold=False, on_device=on_device)
        stale = compare(got, before, None, tolerance)["passed"]
        what = "stale answer on" if stale else "failed"
        new = "half its values new" if span == "half" else "one value new"
        reason = f"{what} the reuse probe (the same input memory, {new}): {reason}"
    row.update(passed=verdict["passed"], reason=reason, outputs=verdict["outputs"])
    return row


def _finish(report, dists, plan):
    rows = report["trials"]
    by = {d: [r for r in rows if r["dist"] == d] for d in dists}
    kb = by.get(KERNELBENCH, [])
    planned = {d: sum(1 for dist, _, _ in plan if dist == d) for d in dists}
    report["kernelbench"] = {"passed": sum(r["passed"] for r in kb), "run": len(kb),
                             "planned": planned.get(KERNELBENCH, 0)}
    report["other"] = {d: {"passed": sum(r["passed"] for r in rs), "run": len(rs),
                           "planned": planned[d]} for d, rs in by.items() if d != KERNELBENCH}
    complete = len(rows) == len(plan)
    report["passed"] = sum(r["passed"] for r in rows)
    report["failed"] = len(rows) - report["passed"]
    if complete and all(r["passed"] for r in rows) and report["reason"] is None:
        report["verdict"] = "pass"
    else:
        report["verdict"] = "fail"
        if report["reason"] is None:
            # KernelBench's own trials first: their order among the gated ones is drawn for each run
            first = next((r for r in kb if not r["passed"]), None) or next((r for r in rows if not r["passed"]), None)
            where = "reuse probe" if first and first["trial"] in PROBES else f"trial {first and first['trial']}"
            report["reason"] = f"{first['dist']} {where}: {first['reason']}" if first else \
                "not every trial ran"
    report["summary"] = summary_line(report)
    if report.get("constant_note"):
        report["summary"] += "; the reference's outputs are constant at these sizes"
    return report


def summary_line(report):
    """'passes KernelBench's protocol (5/5); fails on signed (normal) inputs (0/5)' and the like."""
    kb = report["kernelbench"]
    parts = []
    if kb["planned"]:
        ok = kb["passed"] == kb["planned"]
        parts.append(f"{'passes' if ok else 'fails'} KernelBench's protocol ({kb['passed']}/{kb['planned']})")
    failing = [f"{NAMES.get(d, d)} inputs ({c['passed']}/{c['planned']})" for d, c in report["other"].items()
               if c["passed"] < c["planned"]]
    passing = [d for d, c in report["other"].items() if c["passed"] == c["planned"]]
    if failing:
        parts.append("fails on " + ", ".join(failing))
    elif passing:
        parts.append(f"passes on {len(passing)} other input distribution(s)")
    text = "; ".join(parts) if parts else "no trials ran"
    planned = kb["planned"] + sum(c["planned"] for c in report["other"].values())
    ran = kb["run"] + sum(c["run"] for c in report["other"].values())
    if parts and ran < planned:  # a final failure stops the check: the counts are of the trials planned (a red
        # team read "0/2" after one trial, session 28)
        text += f"; stopped after {ran} of {planned} trials"
    if report["verdict"] == "fail" and report["reason"]:
        text += f" — {report['reason']}"
    return text
