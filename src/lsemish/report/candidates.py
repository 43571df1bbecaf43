"""Candidates timed in workers (evaluate/bench.py), written: bench.json and bench.md, a row per contender with its
per-call latency or the reason it was rejected."""
from __future__ import annotations

import json
import os


def table(result):
    lines = [f"Device: {result['device']}; torch {result['torch']}; {result['date']}",
             f"Problem: {result['problem']} {result['sets'] or ''}".rstrip(),
             f"Per call: KernelBench's figure (events around one call on fresh inputs, L2 flushed, synchronize after; "
             f"mean of {result['calls']}), median over {result['rounds']} interleaved rounds; every call checked "
             "against this process's clock, a sample of outputs verified.", "",
             "| name | per-call ms | × eager | wall ms | GPU ms (queued) | verified calls | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if r.get("rejected"):
            lines.append(f"| {r['name']} | — | — | — | — | {r['verified_calls']} | REJECTED: {r['rejected']} |")
            continue
        verdict = "timed" if not r.get("raised_to_work") else \
            f"timed; its own figure ({r['events_call_ms']:.4f} ms) was below its work on this side's clock"
        lines.append(f"| {r['name']} | {r['call_ms']:.4f} | {r.get('x_eager', float('nan')):.3f} | "
                     f"{r['wall_ms']:.4f} | {r.get('gpu_ms', float('nan')):.4f} | {r['verified_calls']} | {verdict} |")
    return "\n".join(lines)


def write_candidates(result, outdir):
    """bench.json and bench.md in outdir; returns the table's text."""
    os.makedirs(outdir, exist_ok=True)
    text = table(result)
    with open(os.path.join(outdir, "bench.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    with open(os.path.join(outdir, "bench.md"), "w") as fh:
        fh.write(text + "\n")
    return text
