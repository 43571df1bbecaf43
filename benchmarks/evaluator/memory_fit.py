"""How well `check`'s memory estimate (evaluate/memory.check_needs) covers what checks really held: for every problem
of an official run (official_problems.py's official.jsonl) that reports both processes' peaks, the estimate against
the measured peaks, the problems it underestimates, and how far it overstates in all. CPU only (the meta device).

    PYTHONPATH=src python benchmarks/evaluator/memory_fit.py KB_DIR OFFICIAL_JSONL [OUT.txt]
"""
import json
import sys

from lsemish.evaluate.memory import GIB, check_needs, footprint
from lsemish.problems import load_problem


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__.strip().splitlines()[-1].strip())
    kb, jsonl = sys.argv[1], sys.argv[2]
    with open(jsonl) as fh:
        last = {r["problem"]: r for r in map(json.loads, fh)}  # a problem's last row is its verdict
    rows, under, over = [], [], 0.0
    for name, r in sorted(last.items()):
        peaks = r.get("peak_gib") or {}
        if r["verdict"] != "pass" or peaks.get("trusted") is None or peaks.get("worker") is None:
            continue
        size = footprint(load_problem(f"{kb}/{name}", r.get("sets") or None))
        need = check_needs(size) / GIB
        held = peaks["trusted"] + peaks["worker"]
        forward = size.get("forward_peak")
        rows.append(f"{name:70s} held {held:7.2f}  estimate {need:7.2f}  ({need / held:5.2f}x)  forward peak "
                    + ("unknown" if forward is None else f"{forward / GIB:.2f}") + " GiB")
        over += need - held
        if need < held:
            under.append(rows[-1])
    lines = [f"{len(rows)} problems with both peaks; the estimate is below what was held for {len(under)}; it "
             f"overstates by {over:.0f} GiB in all", ""] + ["under:"] + under + ["", "all:"] + rows
    text = "\n".join(lines) + "\n"
    if len(sys.argv) == 4:
        with open(sys.argv[3], "w") as fh:
            fh.write(text)
    print(lines[0])


if __name__ == "__main__":
    main()
