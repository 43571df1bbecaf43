"""The seed's optimization loop as a search: rounds of prompt -> agents -> lint -> check -> bench -> profile.

Each round every parent (strategies.py) gets its prompt — the seed's layout for its code and metrics, and, where its
last children exist, what happened to them (feedback.py) — and `samples` answers from the agent (up to
`agent_concurrency` at once). Each answer's first fenced python block is a candidate, evaluated on the pool
(pool.py: one candidate at a time per GPU, or parallel CPU processes without one), in its own folder. The strategy then
picks the next parents. Stages (several "Current Optimization Stage" texts) run in order, moving on when the best has
not improved for `patience` rounds. Everything goes into the output folder; a folder that holds a run is resumed, mid-
round too (answers already given are not asked again).
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import re
import shutil
import threading
import time

from .. import deliverable_source
from ..evaluate.sandbox import clean
from ..problems import PROBLEM_22, ProblemError, is_problem_22, load_problem, source_with_sets
from .agents import make_agent
from .feedback import feedback_section
from .files import write_whole
from .pool import Pool, Settings, gpu_slots
from .prompt import GPUS, build_prompt, resolve_gpu
from .strategies import best_of, better, select
from .summary import status_line, write_summary

FENCE = re.compile(r"```(?:python|py)[ \t]*\n(.*?)```", re.S | re.I)
THINKING = re.compile(r"<think>.*?</think>", re.S)  # a reasoning model's thoughts, before its answer
NO_GPU_METRICS = {"unavailable": "no GPU on the machine that ran this loop: metrics not measured"}
_OWN_FIELDS = {"id", "round", "order", "parent", "stage", "source", "candidate", "sha256", "agent_s", "tokens",
               "slot", "eval_s"}  # a record's fields that are the candidate's own, not its evaluation's
ANSWER_CAP = 4 << 20  # characters of an agent's answer: a candidate file is some kilobytes


def extract_code(answer: str) -> str | None:
    """The first fenced python block (```python or ```py, any case) of an answer outside its <think> section, or
    None. A block inside the thoughts is a draft, not the answer (a new user's reasoning model, session 12)."""
    match = FENCE.search(THINKING.sub("", answer))
    return match.group(1) if match and match.group(1).strip() else None


def load_stages(items):
    """[(name, text)] from stage files and folders (a folder: its *.md and *.txt files in name order)."""
    stages = []
    for item in items:
        paths = [os.path.join(item, f) for f in sorted(os.listdir(item)) if f.endswith((".md", ".txt"))] \
            if os.path.isdir(item) else [item]
        for path in paths:
            with open(path) as fh:
                stages.append((os.path.splitext(os.path.basename(path))[0], fh.read()))
    if not stages:
        raise SystemExit(f"loop: no stage files in {', '.join(items)}")
    return stages


class Search:
    def __init__(self, agent, out, settings, strategy="greedy", samples=1, beam=2, agent_concurrency=None,
                 gpu=None, stages=None, patience=2, pool=None, log=print):
        self.agent, self.out, self.settings = agent, out, settings
        self.strategy, self.samples, self.beam = strategy, samples, beam
        self.agent_concurrency = agent_concurrency or samples * (beam if strategy == "beam" else 1)
        self.gpu, self.stages, self.patience = gpu, stages or [("seed", None)], patience
        self.pool = pool or Pool([None])
        self.log, self.lock = log, threading.Lock()
        self.state_path = os.path.join(out, "state.json")
        self._evaluations = {}  # sha256 of a candidate's file -> (id of the one evaluated, future of its record)

    # --- state ---------------------------------------------------------------------------------------------------
    def save(self):
        with self.lock:
            write_whole(self.state_path, json.dumps(self.state, indent=1))

    def rec(self, cid):
        return next(r for r in self.state["candidates"] if r["id"] == cid)

    def code_of(self, rec):
        with open(os.path.join(self.out, rec["candidate"])) as fh:
            return fh.read()

    # --- one candidate -------------------------------------------------------------------------------------------
    def _finish(self, rec, done, total):
        # one printable line: a status may quote the candidate or the agent, and reaches the console, the summary
        # and the next prompt's feedback
        rec["status"] = clean(rec.get("status", ""), 600)
        with self.lock:
            self.state["candidates"].append(rec)
            if better(rec, self.best(), self.settings.timed):
                self.state["best"] = rec["id"]
        self.save()
        timing = f"  {rec['call_ms']:.4f} ms per call" if rec.get("call_ms") else ""
        self.log(f"  [{done}/{total}] {rec['id']}: {status_line(rec)}{timing}")

    def best(self):
        return self.rec(self.state["best"]) if self.state.get("best") else None

    # --- rounds --------------------------------------------------------------------------------------------------
    def start(self, start_path, problem, agent_spec):
        os.makedirs(self.out, exist_ok=True)
        if os.path.exists(self.state_path):
            with open(self.state_path) as fh:
                self.state = json.load(fh)
            self.state.setdefault("sets", {})  # runs from before --set recorded none
            differs = [f"{what} ({self.state[key]!r}, now {now!r})"
                       for what, key, now in (("problem", "problem", problem), ("--agent", "agent", agent_spec),
                                              ("--set", "sets", self.settings.sets or {}))
                       if self.state[key] != now]
            if differs:
                raise SystemExit(f"loop: {self.out} holds a run of another {'; '.join(differs)}: use another --out "
                                 "(or remove it to start over)")
            done = sum(1 for r in self.state["rounds"] if r.get("done"))
            self.log(f"resuming {self.out}: {done - 1} round(s) done")
            for key, now in (("strategy", self.strategy), ("samples", self.samples), ("beam", self.beam)):
                if self.state.get(key) != now:  # the rounds to come follow the options given now
                    self.log(f"resuming with --{key} {now} (its earlier rounds had {self.state.get(key)})")
                    self.state[key] = now
            return
        self.state = {"problem": problem, "sets": self.settings.sets or {}, "agent": agent_spec,
                      "strategy": self.strategy, "samples": self.samples,
                      "beam": self.beam, "gpu": self.gpu["name"], "candidates": [], "rounds": [], "best": None,
                      "stage": 0, "stage_best": None, "stale_rounds": 0}
        folder = os.path.join(self.out, "round-00", "start")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "candidate.py")
        reference = start_path is None and not is_problem_22(problem)
        with open(path, "w") as fh:
            fh.write(open(start_path).read() if start_path else
                     reference_start(problem, self.settings.sets) if reference else deliverable_source())
        self.log("round 0: " + ("the problem's reference, as the code to improve" if reference
                                else "the starting code"))
        rec = {"id": "r00", "round": 0, "order": 0, "parent": None, "stage": self.stages[0][0],
               "source": start_path or ("the problem's reference" if reference else "lsemish deliverable"),
               "candidate": os.path.relpath(path, self.out), "sha256": file_digest(path)}
        if reference:  # not a candidate: KernelBench's own prompts start from it; bench times it as eager anyway
            rec.update(status="start: the problem's reference (not evaluated)", evaluated=False)
        else:
            rec.update(self.pool.evaluate(path, folder, self.settings).result())
        self.state["rounds"].append({"round": 0, "parents": [], "done": True})
        self._finish(rec, 1, 1)
        self.state["stage_best"] = self.state["best"]  # a stage's patience counts from the best it started with
        self.save()

    def parents(self):
        """The parents of the next round: the strategy's choice after the last round (the start before any)."""
        rounds = self.state["rounds"]
        if len(rounds) == 1:
            return [self.state["candidates"][0]]
        last = rounds[-1]
        parents = [self.rec(p) for p in last["parents"]]
        children = [r for r in self.state["candidates"] if r["round"] == last["round"]]
        return select(self.strategy, parents, children, self.state["candidates"], self.settings.timed, self.beam)

    def run_round(self, number):
        rounds = self.state["rounds"]
        if rounds[-1]["round"] != number:  # a new round (a resumed one keeps its parents)
            rounds.append({"round": number, "parents": [p["id"] for p in self.parents()], "done": False,
                           "stage": self.stages[self.state["stage"]][0]})
            self.save()
        entry = rounds[-1]
        stage_name, stage_text = self.stages[self.state["stage"]]
        parents = [self.rec(p) for p in entry["parents"]]
        have = {r["id"] for r in self.state["candidates"]}
        jobs = []
        for i, parent in enumerate(parents):
            children = [r for r in self.state["candidates"] if r.get("parent") == parent["id"]]
            last_round = max((c["round"] for c in children), default=None)
            feedback = feedback_section([c for c in children if c["round"] == last_round], parent)
            metrics = parent.get("metrics") or (NO_GPU_METRICS if not self.settings.timed else
                                                {"unavailable": f"ncu: profile {parent['profile']}"}
                                                if parent.get("profile") else {})
            prompt = build_prompt(self.code_of(parent), metrics, self.gpu, stage_text, feedback)
            folder = os.path.join(self.out, f"round-{number:02d}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"prompt-p{i}.txt"), "w") as fh:
                fh.write(prompt)
            for s in range(self.samples):
                cid = f"r{number:02d}-p{i}-s{s}"
                if cid not in have:
                    jobs.append((cid, parent, prompt, os.path.join(folder, f"p{i}-s{s}")))
        total, done = len(jobs), [0]
        self.log(f"round {number} ({stage_name}): {len(parents)} parent(s) x {self.samples} sample(s), "
                 f"{total} to do; agents {self.agent_concurrency} at once, evaluation on {len(self.pool.slots)} "
                 f"slot(s)")
        order0 = len(self.state["candidates"])
        with cf.ThreadPoolExecutor(self.agent_concurrency) as agents:
            evaluations = []
            for k, job in enumerate(jobs):
                evaluations.append(agents.submit(self._candidate, *job, number, stage_name, order0 + k))
            def finish(rec):
                done[0] += 1
                self._finish(rec, done[0], total)
            pending = []  # a repeat waits until its original (of this round) is recorded
            for fut in cf.as_completed(evaluations):
                pending.append(fut.result())
                for rec in sorted(pending, key=lambda r: bool(r.get("same_as"))):  # originals first
                    if not rec.get("same_as") or any(r["id"] == rec["same_as"] for r in self.state["candidates"]):
                        pending.remove(rec)
                        finish(rec)
            for rec in pending:  # an original that never came back (its agent thread failed): recorded anyway
                finish(rec)
        entry["done"] = True
        self._advance_stage()
        self.save()

    def _candidate(self, cid, parent, prompt, folder, number, stage, order):
        """Ask the agent (or reuse an answer kept from an interrupted run), then evaluate on the pool."""
        os.makedirs(folder, exist_ok=True)
        rec = {"id": cid, "round": number, "order": order, "parent": parent["id"], "stage": stage}
        answer_path = os.path.join(folder, "answer.txt")
        if os.path.exists(answer_path):
            with open(answer_path, encoding="utf-8", errors="replace") as fh:
                text, error = fh.read(), None
        else:
            problem = self.settings.problem or PROBLEM_22
            answer = self.agent.ask(prompt, {"problem": os.path.abspath(problem), "round": number, "candidate": cid,
                                             "problem_name": os.path.splitext(os.path.basename(problem))[0],
                                             "sets": json.dumps(self.settings.sets or {})})
            text, error = answer.text, answer.error
            rec.update(agent_s=answer.seconds, tokens=answer.tokens)
            if not error and len(text) > ANSWER_CAP:  # kept whole, a 50 MB answer filled the run folder (session 12)
                error = f"agent: an answer of {len(text) / 2**20:.1f} MiB (more than {ANSWER_CAP >> 20} MiB)"
            if not error:  # an endpoint's text may hold what UTF-8 cannot (a lone surrogate): replaced, no crash
                write_whole(answer_path, text, encoding="utf-8", errors="replace")
        if error:
            rec["status"] = error
            return rec
        code = extract_code(text)
        if code is None:
            rec["status"] = "agent: no fenced python block in the answer"
            return rec
        path = os.path.join(folder, "candidate.py")
        with open(path, "w") as fh:
            fh.write(code)
        rec["candidate"], rec["sha256"] = os.path.relpath(path, self.out), file_digest(path)
        earlier, future = self._evaluation(rec["sha256"], cid, path, folder)
        result = dict(future.result())
        if earlier != cid:  # the same bytes as an earlier candidate of this run: its verdict, not a second evaluation
            result.update(same_as=earlier, eval_s=0.0)
            result.pop("slot", None)
        rec.update(result)
        return rec

    def _evaluation(self, digest, cid, path, folder):
        """(the id of the candidate whose evaluation this code gets, a future of that evaluation): an earlier
        candidate's of this run with the same bytes (agents often answer with the code they were shown; in flight
        or done, a resumed run's included) where its verdict is the code's own (_settled), else a new evaluation on
        the pool. Saves GPU time only: a changed byte is new code."""
        with self.lock:
            known = self._evaluations.get(digest)
            if known is not None and (not known[1].done() or (known[1].exception() is None
                                                              and self._settled(known[1].result()))):
                return known  # in flight, or done with the code's own verdict (not an error of the pool)
            done = next((r for r in self.state["candidates"] if r.get("sha256") == digest and r.get("evaluated", True)
                         and not r.get("same_as") and self._settled(r)), None)
            if done is not None:
                future = cf.Future()
                future.set_result({k: v for k, v in done.items() if k not in _OWN_FIELDS})
                self._evaluations[digest] = (done["id"], future)
                return self._evaluations[digest]
            mine = self._evaluations[digest] = (cid, cf.Future())
        _chain(self.pool.evaluate(path, folder, self.settings), mine[1])  # outside the lock: a Ray submit can be slow
        return mine

    def _settled(self, rec):
        """Is an evaluation's verdict the code's own, the same on another try: a pass (timed where this run times),
        a lint finding, a wrong output, a rejection by bench? Not what the machine may have caused (a step killed
        at its time limit, a call with no result in time, a lost node, a bench that failed)."""
        status = rec.get("status", "")
        if status == "pass":
            return not self.settings.timed or rec.get("call_ms") is not None
        if status.startswith(("lint: killed", "check: killed")) or "no result within" in status:
            return False
        return status.startswith(("lint: ", "check failed: ", "rejected in bench: "))

    def _advance_stage(self):
        """Move to the next stage when the best has not improved for `patience` rounds of this one."""
        if self.state["best"] != self.state.get("stage_best"):
            self.state["stage_best"], self.state["stale_rounds"] = self.state["best"], 0
            return
        self.state["stale_rounds"] += 1
        if self.state["stale_rounds"] >= self.patience and self.state["stage"] + 1 < len(self.stages):
            self.state["stage"] += 1
            self.state["stale_rounds"] = 0
            self.log(f"stage {self.stages[self.state['stage']][0]} from the next round on (no gain for "
                     f"{self.patience} round(s))")


def reference_start(problem, sets=None):
    """The first code of a loop without a starting candidate: the problem's file (with the sizes --set gives it),
    its Model as ModelNew (KernelBench's prompts show the reference architecture as the code to improve)."""
    with open(problem) as fh:
        text = source_with_sets(fh.read(), sets)
    return text.rstrip("\n") + "\n\n\nModelNew = Model  # the reference: the code to improve\n"


def _settings_and_pool(problems, sets, trials, step_timeout, call_timeout, gpus, workers, samples, ray, log=print):
    """One Settings per problem (its sizes validated: a bad --set fails here, in one line) and the evaluation pool.
    In a suite, each problem takes the sizes it has, and a problem left at its own sizes is said."""
    import torch

    from ..problems import sizes
    timed = torch.cuda.is_available()
    settings, used = [], set()
    suite = len(problems) > 1
    for problem in problems:
        try:
            if suite and sets:  # each problem of a suite takes the sizes it has
                names = sizes(load_problem(problem))
                own = {k: v for k, v in sets.items() if k in names}
                used |= set(own)
            else:
                own = sets
                load_problem(problem, own)  # a size the problem lacks or a bad value stops here, in one line
        except ProblemError as e:
            raise SystemExit(f"loop: {e}")
        settings.append(Settings(problem, trials, step_timeout, call_timeout, timed, own or None))
    unused = sorted(set(sets) - used) if suite and sets else []
    if unused:
        raise SystemExit(f"loop: --set {', '.join(unused)}: no problem of the suite has a size of that name")
    if suite and sets:
        for problem, st in zip(problems, settings):
            missing = sorted(set(sets) - set(st.sets or {}))
            if missing:  # a size it does not have: it runs at its own (a new user expected otherwise, session 12)
                log(f"{os.path.basename(problem)}: has no size {', '.join(missing)}; "
                    + (f"runs with {st.sets}" if st.sets else "runs at its own sizes"))
    if ray is not None:
        from .ray_pool import RayPool
        pool = RayPool(ray, timed)
    else:
        # on a CPU, as many interpreter checks at once as the machine has cores and the round (every problem's
        # samples, in a suite) has candidates
        slots = gpu_slots(gpus) if timed else [None] * (workers or min(os.cpu_count() or 1,
                                                                      max(samples, 1) * len(problems)))
        pool = Pool(slots)
    return settings, pool, timed


def too_big(settings, timed):
    """None when a check of the problem at its sizes fits this machine (the GPU's memory, or the host's without
    one); else one line saying what it needs and which sizes --set can change. Asked before any agent is."""
    from ..evaluate.memory import does_not_fit, footprint_or_none
    from ..problems import problem_22_sizes, sizes
    sets = settings.sets
    if is_problem_22(settings.problem):  # the sizes its check runs at (the interpreter's shape without a GPU)
        sets = problem_22_sizes(sets, interpreted=not timed)
    problem = load_problem(settings.problem or PROBLEM_22, sets)
    known = ", ".join(f"{k}={v}" for k, v in sizes(problem).items())
    have = None
    if timed:  # a GPU's whole memory: what is free now is shared with running evaluations, and asking would make
        import torch  # this process a CUDA context on GPU 0
        props = torch.cuda.get_device_properties(0)
        have = (props.total_memory, f"a {props.name}")
    reason = does_not_fit(footprint_or_none(problem), "cuda" if timed else "cpu", known, have)
    return reason and f"{os.path.basename(settings.problem or PROBLEM_22)} {reason}"


def _stage_list(stages, stage_file):
    if stages:
        return load_stages(stages)
    return [("seed" if stage_file is None else os.path.splitext(os.path.basename(stage_file))[0],
             open(stage_file).read() if stage_file else None)]


def _one(agent, rounds, settings, start, out, gpu_spec, stage_list, agent_timeout, samples, strategy, beam,
         agent_concurrency, patience, pool, log):
    """Run (or resume) one problem's search until `rounds` rounds are done; its summary table."""
    search = Search(make_agent(agent, agent_timeout), out, settings, strategy, samples, beam, agent_concurrency,
                    gpu_spec, stage_list, patience, pool, log)
    started = time.time()
    search.start(start, settings.problem, agent)
    todo = range(len([r for r in search.state["rounds"] if r.get("done")]), rounds + 1)
    try:
        for number in todo:
            search.run_round(number)
    finally:  # each session's time, an interrupted one's too (a resumed run showed only its last session's)
        if todo:
            search.state.setdefault("wall_s", []).append(round(time.time() - started, 1))
        search.save()
    final_bench(search, out, settings, pool, log)
    note = None
    measured = _measured_gpu() if settings.timed else None
    if measured and not any(k.lower() in measured.lower().replace(" ", "") for k, v in GPUS.items()
                            if v["name"] == gpu_spec["name"]):
        note = f"the prompts name {gpu_spec['name']}; the candidates were timed on {measured}"
    return write_summary(search.state, out, settings.timed, note, log)


def final_bench(search, out, settings, pool, log, tries=3):
    """On a GPU, the best candidate timed once more beside eager and torch.compile (pool.final_bench), from its own
    file (the path its round used), into state["final"] and out/final/<id>/. Once per best: a resumed run keeps a
    final that timed or rejected it, and tries a failed one again. A file changed since its check (or during this
    bench) is not timed. A best that this bench rejects is no longer a pass: the next best is timed so, up to
    `tries` candidates in all."""
    for _ in range(tries):
        best = search.state.get("best")
        done = search.state.get("final") or {}
        if not settings.timed or best is None or (done.get("id") == best and (
                done.get("status") == "timed" or str(done.get("status")).startswith("rejected"))):
            return
        rec = search.rec(best)
        path = os.path.join(out, rec["candidate"])
        folder = os.path.join(out, "final", best)
        shutil.rmtree(folder, ignore_errors=True)  # nothing of an earlier attempt beside this one's record
        os.makedirs(folder)
        digest = _digest_or_none(path)
        if digest is None or digest != rec.get("sha256", digest):
            final = {"status": "bench failed: its file changed since it was checked (or is gone)"}
        else:
            log(f"final: {best} beside eager and torch.compile")
            final = pool.final_bench(path, folder, settings).result()
            if rec.get("sha256") and _digest_or_none(path) != rec["sha256"]:
                final = {"status": "bench failed: its file changed during its final bench"}
        search.state["final"] = dict(final, id=best)
        log(f"final: {best} {final['status']}" + (f", {final['call_ms']:.4f} ms per call" if final.get("call_ms")
                                                  else ""))
        if not final["status"].startswith("rejected"):
            search.save()
            return
        rec["status"] = clean(f"rejected in its final bench: {final['status'].removeprefix('rejected in bench: ')}",
                              600)
        for repeat in search.state["candidates"]:  # its repeats have its verdict
            if repeat.get("same_as") == best:
                repeat["status"] = rec["status"]
        next_best = best_of(search.state["candidates"], settings.timed)
        search.state["best"] = next_best and next_best["id"]
        search.save()


def _chain(source, target):
    """target (a Future) gets source's result or exception when source is done."""
    def copy(f):
        if f.exception() is not None:
            target.set_exception(f.exception())
        else:
            target.set_result(f.result())
    source.add_done_callback(copy)


def file_digest(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _digest_or_none(path):
    try:
        return file_digest(path)
    except OSError:
        return None


def _measured_gpu():
    import torch
    return torch.cuda.get_device_name()


def run_loop(agent, rounds, problem=None, start=None, out="loop-out", gpu=None, stage_file=None,
             agent_timeout=600, step_timeout=900, trials=5, log=print, call_timeout=120.0, samples=1,
             strategy="greedy", beam=2, agent_concurrency=None, gpus=None, stages=None, patience=2, workers=None,
             sets=None, ray=None):
    """Run (or resume) the search on one problem until `rounds` rounds are done; returns the summary table. Without
    `start`, problem 22 starts from lsemish's deliverable and any other problem from its reference."""
    (settings,), pool, timed = _settings_and_pool([problem] if problem else [None], sets, trials, step_timeout,
                                                  call_timeout, gpus, workers, samples, ray)
    if not timed:
        log("no GPU: bench and profile are skipped; the newest new code that passes lint and check is kept")
    reason = too_big(settings, timed)
    if reason:
        pool.shutdown()
        raise SystemExit(f"loop: {reason}")
    gpu_spec = resolve_gpu(gpu or ("auto" if timed else "4090"))
    try:
        return _one(agent, rounds, settings, start, out, gpu_spec, _stage_list(stages, stage_file), agent_timeout,
                    samples, strategy, beam, agent_concurrency, patience, pool, log)
    finally:
        pool.shutdown()


def suite_problems(spec):
    """The problem files of --problems: a folder (its *.py files) or a glob pattern, sorted, without files whose
    name starts with '_' (a package's __init__.py); SystemExit when none."""
    import glob
    paths = sorted(os.path.join(spec, f) for f in os.listdir(spec)) if os.path.isdir(spec) else sorted(glob.glob(spec))
    paths = [p for p in paths if p.endswith(".py") and not os.path.basename(p).startswith("_")]  # not __init__.py
    if not paths:
        raise SystemExit(f"loop: --problems {spec}: no problem files (.py) there")
    return paths


def run_suite(agent, rounds, problems, out="loop-out", candidates=None, gpu=None, stage_file=None,
              agent_timeout=600, step_timeout=900, trials=5, log=print, call_timeout=120.0, samples=1,
              strategy="greedy", beam=2, agent_concurrency=None, gpus=None, stages=None, patience=2, workers=None,
              sets=None, ray=None):
    """The loop over every problem of a suite, all problems at once on one evaluation pool; each in
    out/<problem name>/ (resumable on its own), starting from candidates/<same file name> when that exists, else
    from its reference. Returns {problem name: its summary table or the one-line reason it stopped}."""
    paths = suite_problems(problems)
    settings, pool, timed = _settings_and_pool(paths, sets, trials, step_timeout, call_timeout, gpus, workers,
                                               samples, ray, log)
    if not timed:
        log("no GPU: bench and profile are skipped; the newest new code that passes lint and check is kept")
    gpu_spec = resolve_gpu(gpu or ("auto" if timed else "4090"))
    stage_list = _stage_list(stages, stage_file)
    results, said = {}, threading.Lock()

    def say(message):  # one whole line at a time: problems run in threads (their lines ran together)
        with said:
            log(message)

    def one(path, st):
        name = os.path.splitext(os.path.basename(path))[0]
        own = os.path.join(candidates, os.path.basename(path)) if candidates else None
        start = own if own and os.path.exists(own) else None
        try:
            reason = too_big(st, timed)
        except ProblemError as e:  # its sizes break it (a --set value its own lines cannot take): it alone stops
            reason = str(e)
        not_run = os.path.join(out, name, "not_run.json")
        if reason:  # before any agent is asked; the report lists it as not run, with this line
            os.makedirs(os.path.dirname(not_run), exist_ok=True)
            with open(not_run, "w") as fh:
                json.dump({"problem": path, "reason": reason}, fh, indent=1)
            results[name] = f"stopped: {reason}"
            say(f"[{name}] not run: {reason}")
            return
        if os.path.exists(not_run):  # it fits now (sizes set since)
            os.remove(not_run)
        try:
            results[name] = _one(agent, rounds, st, start, os.path.join(out, name), gpu_spec, stage_list,
                                 agent_timeout, samples, strategy, beam, agent_concurrency, patience, pool,
                                 lambda m: say(f"[{name}] {m}"))
        except SystemExit as e:
            results[name] = f"stopped: {e}"
            say(f"[{name}] stopped: {e}")
    try:
        with cf.ThreadPoolExecutor(len(paths)) as problems_at_once:
            list(problems_at_once.map(one, paths, settings))
    finally:
        pool.shutdown()
    return results
