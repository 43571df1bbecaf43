"""Where one `check` spends its time (issue 26: large official problems): the problem's own reference as the
candidate, run_check in this process under cProfile (the trusted side), each trial's line stamped with the seconds
since the start. The trusted side's reads show the worker's part: the first bytes of a reply wait for the worker's
work (inputs, poison, call, checks, copy to the host), the tensors' bytes are the transfer (through the pipe, or
from the shared output memory: _read_bulk). Writes OUT.txt (the
stamped lines, then the profile's top functions by cumulative and own time, and who called the wire's reads).

    PYTHONPATH=src python benchmarks/evaluator/check_profile.py PROBLEM OUT.txt [--set NAME=VALUE ...] [--trials 1]
"""
import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time

from lsemish.evaluate.check import run_check


def main():
    p = argparse.ArgumentParser()
    p.add_argument("problem")
    p.add_argument("out")
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--trials", type=int, default=1)
    args = p.parse_args()
    sets = dict(s.split("=", 1) for s in args.sets)
    folder = tempfile.mkdtemp(prefix="check-profile-")
    own = os.path.join(folder, "own.py")
    with open(args.problem) as src, open(own, "w") as dst:
        dst.write(src.read() + "\n\nModelNew = Model\n")
    t0 = time.perf_counter()
    lines = []

    def log(line):
        lines.append(f"{time.perf_counter() - t0:8.2f} s  {line}")
        print(lines[-1], flush=True)
    prof = cProfile.Profile()
    prof.enable()
    report = run_check(args.problem, own, sets=sets or None, trials=args.trials, log=log)
    prof.disable()
    shutil.rmtree(folder)
    log(f"verdict {report['verdict']} {report.get('reason') or ''}")
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    stats.print_callers("_read_into")  # the pipe: headers, and tensors that do not fit the shared memory
    stats.print_callers("_read_bulk")  # the shared output memory's tensors
    with open(args.out, "w") as fh:
        fh.write(" ".join(sys.argv) + "\n\n" + "\n".join(lines) + "\n\n" + text.getvalue())


if __name__ == "__main__":
    main()
