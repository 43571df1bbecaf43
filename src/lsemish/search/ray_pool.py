"""Evaluations as Ray tasks (`loop --ray [ADDRESS]`, the optional extra lsemish[ray]): one GPU each (one CPU each
without a GPU), on a local Ray instance or an existing cluster, with the same interface as pool.Pool.

A task gets the candidate's and the problem's source (not paths: a node of a cluster has none of the driver's
files), evaluates in a folder of its own on its node, and returns the record and every file it wrote; the driver
alone writes the run folder. A task whose node or worker is lost is retried once; a second loss becomes the
candidate's status ("evaluation lost: ..."), not the run's end. Nodes need lsemish installed.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import tempfile

from . import children
from .pool import Settings, evaluate, final_bench


def _evaluate_remote(candidate_source, problem_name, problem_source, settings_fields, final=False):
    """On a node: write the sources into a fresh folder, evaluate there (`final`: pool.final_bench instead); (record,
    {relative path: bytes})."""
    work = tempfile.mkdtemp(prefix="lsemish-ray-")
    settings = Settings(**settings_fields)
    if problem_source is not None:
        settings.problem = os.path.join(work, problem_name)
        with open(settings.problem, "w") as fh:
            fh.write(problem_source)
    folder = os.path.join(work, "evaluation")
    os.makedirs(folder)
    path = os.path.join(folder, "candidate.py")
    with open(path, "w") as fh:
        fh.write(candidate_source)
    rec = (final_bench if final else evaluate)(path, folder, settings)
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, folder)
            if rel != "candidate.py":
                with open(full, "rb") as fh:
                    files[rel] = fh.read()
    return rec, files


class RayPool:
    """Pool's interface (evaluate, shutdown, slots) over Ray tasks."""

    def __init__(self, address, timed):
        try:
            import ray
        except ImportError:
            raise SystemExit("loop --ray needs Ray: pip install 'lsemish[ray]'") from None
        self.ray, self.started_here, self.pending = ray, not ray.is_initialized(), set()
        if self.started_here:
            if address in (None, "", "local"):
                ray.init(include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        children.at_stop(self.stop)  # a stopped loop leaves no task running, and no Ray instance it started
        children.reclaim_signals()  # ray.init sets its own SIGTERM handler
        resources = {"num_gpus": 1} if timed else {"num_cpus": 1}
        self.task = ray.remote(max_retries=1, **resources)(_evaluate_remote)
        total = ray.cluster_resources().get("GPU" if timed else "CPU", 1)
        self.slots = [None] * max(1, int(total))
        self.waiters = cf.ThreadPoolExecutor(len(self.slots) * 4)

    def evaluate(self, path, folder, settings, final=False):
        if children.stopping():
            raise children.Stopped("the loop is stopping")
        with open(path) as fh:
            source = fh.read()
        problem_source = None
        if settings.problem:
            with open(settings.problem) as fh:
                problem_source = fh.read()
        ref = self.task.remote(source, os.path.basename(settings.problem or "problem.py"), problem_source,
                               dataclasses.asdict(settings), final)
        self.pending.add(ref)
        return self.waiters.submit(self._collect, ref, folder)

    def final_bench(self, path, folder, settings):
        return self.evaluate(path, folder, settings, final=True)

    def _collect(self, ref, folder):
        try:
            rec, files = self.ray.get(ref)
        except Exception as e:  # the node or its worker was lost twice, or the task itself broke
            if children.stopping():  # cancelled by the loop's stop: no result of the candidate's
                raise children.Stopped("the loop is stopping") from None
            return {"status": f"evaluation lost: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
        finally:
            self.pending.discard(ref)
        for rel, data in files.items():
            target = os.path.join(folder, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
        return rec

    def stop(self):
        """Cancel every task not yet collected; shut down a Ray instance this pool started."""
        for ref in list(self.pending):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass
        if self.started_here:
            self.ray.shutdown()

    def shutdown(self):
        self.waiters.shutdown(wait=True)
