"""A folder of loop runs (one subfolder per problem, each with the loop's summary.json) as a suite: a table per
problem (correct, best per-call latency, speedup against eager and against torch.compile where measured, rounds to
the best) and KernelBench's scores (scores.py) against each baseline, with a chart of fast_p over p."""
from __future__ import annotations

import importlib.util
import json
import os

from .scores import P_VALUES, scores


def read_runs(folder):
    """[(problem name, loop state)] for every subfolder of `folder` holding a summary.json; for one holding only the
    loop's state.json (or only its first round's folder), its state marked "unfinished" (a run cut short, resumable
    with the same --out: what it has evaluated so far counts); [(problem name, {"not_run": reason})] for one holding
    the loop's not_run.json instead (too large to check on the machine); ValueError (one line) when there is none."""
    if not os.path.isdir(folder):
        raise ValueError(f"report: {folder} is not a folder")
    runs = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name, "summary.json")
        state = os.path.join(folder, name, "state.json")
        skipped = os.path.join(folder, name, "not_run.json")
        if os.path.isfile(skipped):  # this run's word (removed once the problem fits), over an earlier run's summary
            with open(skipped) as fh:
                runs.append((name, {"not_run": json.load(fh).get("reason", "not run")}))
        elif os.path.isfile(path) or os.path.isfile(state):
            unfinished = not os.path.isfile(path)
            with open(state if unfinished else path) as fh:
                try:
                    run = json.load(fh)
                except ValueError as e:  # one run's file, named: not the whole suite's report in a bare JSON error
                    raise ValueError(f"report: {fh.name} is not readable JSON ({e})") from None
            why = _not_a_run(run)
            if why:  # valid JSON of another shape: named in one line, not a KeyError (a red team's, session 28)
                raise ValueError(f"report: {fh.name} is not a loop's record ({why})")
            runs.append((name, dict(run, unfinished=True) if unfinished else run))
        elif os.path.isdir(os.path.join(folder, name, "round-00")):  # started, stopped before its first record
            runs.append((name, {"candidates": [], "best": None, "unfinished": True}))
    if not runs and os.path.isfile(os.path.join(folder, "summary.json")):  # one run: its summary.md is its report
        raise ValueError(f"report: {folder} is one loop run (its summary is {os.path.join(folder, 'summary.md')}); "
                         "report reads a folder of runs, such as a suite's --out")
    if not runs:
        raise ValueError(f"report: no loop runs in {folder} (a run is a subfolder with summary.json or state.json)")
    return runs


def _not_a_run(run):
    """Why a summary.json or state.json does not hold what the loop writes there, or None."""
    if not isinstance(run, dict):
        return f"a JSON {type(run).__name__}, not an object"
    if not isinstance(run.get("candidates"), list):
        return "no list of candidates"
    for c in run["candidates"]:
        if not isinstance(c, dict) or "id" not in c or not isinstance(c.get("round"), int):
            return f"a candidate without an id and a round: {str(c)[:60]}"
        if c.get("call_ms") is not None and not isinstance(c["call_ms"], (int, float)):
            return f"candidate {str(c['id'])[:40]}'s call_ms is not a number"
    return None


def problem_row(name, state, run_dir=None):
    if "not_run" in state:  # counted as KernelBench counts a problem without a correct kernel
        return {"problem": name, "correct": False, "call_ms": None, "eager_ms": None, "compile_ms": None,
                "rounds_to_best": None, "not_run": state["not_run"]}
    best = next((c for c in state["candidates"] if c["id"] == state.get("best")), None)
    # untimed (no GPU), "best" is the newest candidate that passed: its round says nothing of speed
    timed = any(c.get("call_ms") is not None for c in state["candidates"])
    row = {"problem": name, "correct": best is not None, "call_ms": None, "eager_ms": None, "compile_ms": None,
           "rounds_to_best": best["round"] if best and timed else None}
    if state.get("unfinished"):
        row["unfinished"] = sum(1 for c in state["candidates"] if c.get("status"))
    final = state.get("final") or {}
    status = str(final.get("status")) if best is not None and final.get("id") == best["id"] else None
    if status == "timed":  # the best timed once more beside eager and torch.compile, in one process (loop.final_bench)
        rounds = _rounds_of_final_bench(run_dir, best["id"])
        row.update(call_ms=final["call_ms"], eager_ms=final.get("eager_call_ms"),
                   compile_ms=final.get("compile_call_ms"), eager_by_round=_by_round(rounds, "eager"),
                   compile_by_round=_by_round(rounds, "compile"))
    elif status and status.startswith("rejected"):  # caught by its last bench: not correct, whatever its rounds said
        row.update(correct=False, rounds_to_best=None, rejected=status)
    elif status:  # its last bench failed: correct (it passed check), but no figure stands
        row.update(untimed=status)
    elif best is not None:  # no final bench (no GPU, or a run from before it): its round's own bench
        row.update(call_ms=best.get("call_ms"), eager_ms=best.get("eager_call_ms"))
    return row


def _rounds_of_final_bench(run_dir, best):
    """The final bench's per-round figures ({contender: [ms per round]}) from its bench.json in the run's folder
    (final/<best>/bench/: the loop's final_bench writes it, on a Ray node too: the driver copies it); {} where there
    is none."""
    names = {"candidate": "candidate", "reference-eager": "eager", "reference-compile": "compile"}
    try:
        with open(os.path.join(run_dir, "final", best, "bench", "bench.json")) as fh:
            rows = json.load(fh)["rows"]
        return {names[r["name"]]: [x.get("call_ms") for x in r.get("per_round") or []]
                for r in rows if r.get("name") in names}
    except (OSError, TypeError, ValueError, KeyError, AttributeError):
        return {}


def _by_round(rounds, baseline):
    """(least, most) of the speedup against `baseline` round by round in the final bench (each round times the
    contenders in turn, in one process), or None with fewer than two such rounds."""
    ratios = [b / c for b, c in zip(rounds.get(baseline) or [], rounds.get("candidate") or []) if b and c]
    return (min(ratios), max(ratios)) if len(ratios) > 1 else None


def suite_scores(rows, baseline):
    """KernelBench's scores against `baseline` ("eager_ms" or "compile_ms") over every problem; a correct kernel
    not timed against that baseline counts in n but as neither fast nor in the geomeans ("untimed"). None when no
    problem was timed against it."""
    timed = [bool(r["correct"] and r[baseline] and r["call_ms"]) for r in rows]
    if not any(timed):
        return None
    result = scores(timed, [r[baseline] or 1.0 for r in rows], [r["call_ms"] or 1.0 for r in rows])
    result.update(correct=sum(bool(r["correct"]) for r in rows),
                  untimed=sum(bool(r["correct"]) and not t for r, t in zip(rows, timed)))
    return result


def write_report(folder, out=None, log=print):
    """suite.md, suite.json and fast_p.png in `out` (default: `folder`); returns the markdown."""
    out = out or folder
    runs = read_runs(folder)
    rows = [problem_row(name, state, os.path.join(folder, name)) for name, state in runs]
    result = {"problems": rows, "vs_eager": suite_scores(rows, "eager_ms"),
              "vs_compile": suite_scores(rows, "compile_ms")}
    fmt = (lambda v, f="{:.4f}": "—" if v is None else f.format(v))
    lines = [f"{len(rows)} problem(s), {sum(r['correct'] for r in rows)} with a correct kernel", "",
             "| problem | correct | best per-call ms | × eager | × torch.compile | rounds to best |",
             "|---|---|---|---|---|---|"]

    def speedup(r, key):
        value = r[key] / r["call_ms"] if r[key] and r["call_ms"] else None
        spread = r.get(key.replace("_ms", "_by_round"))
        return fmt(value, "{:.2f}") + (f" ({spread[0]:.2f}–{spread[1]:.2f})" if value and spread else "")
    for r in rows:
        verdict = "not run" if r.get("not_run") else "yes" if r["correct"] else \
            "no (rejected in its final bench)" if r.get("rejected") else \
            "no (nothing evaluated yet)" if r.get("unfinished") == 0 else "no"
        lines.append(f"| {r['problem']} | {verdict} | {fmt(r['call_ms'])} | "
                     f"{speedup(r, 'eager_ms')} | {speedup(r, 'compile_ms')} | "
                     f"{fmt(r['rounds_to_best'], '{}')} |")
    skipped = [f"- {r['problem']} not run: {r['not_run']}" for r in rows if r.get("not_run")]
    skipped += [f"- {r['problem']}: its best, timed once more, was {r['rejected']}" for r in rows
                if r.get("rejected")]
    skipped += [f"- {r['problem']}: its run was cut short (resume it with the same --out) after {r['unfinished']} "
                "evaluated candidate(s); what they showed counts" for r in rows if "unfinished" in r]
    skipped += [f"- {r['problem']}: correct, untimed: its final bench failed "
                f"({r['untimed'].removeprefix('bench failed: ')})" for r in rows if r.get("untimed")]
    if any(r.get("eager_by_round") or r.get("compile_by_round") for r in rows):
        skipped.append("- × eager, × torch.compile: the ratio of the medians over the final bench's rounds; in "
                       "brackets the least and the most of the rounds' own ratios (each round times the contenders "
                       "in turn, in one process)")
    lines += [""] + skipped if skipped else []
    if not any(r["call_ms"] for r in rows):
        correct = sum(bool(r["correct"]) for r in rows)
        lines += ["", f"No timings (no GPU, or no correct kernel timed): fast_0 = {correct}/{len(rows)} correct; "
                  "fast_p for p > 0, the geomeans and rounds to best need per-call times."]
    for key, label in (("vs_eager", "eager"), ("vs_compile", "torch.compile")):
        s = result[key]
        if s is None:
            lines += ["", f"Against {label}: no problem timed against it."]
            continue
        lines += ["", f"Against {label} (KernelBench's scores over {s['n']} problem(s)"
                  + (f"; {s['untimed']} correct but not timed against it count as not faster" if s["untimed"]
                     else "") + "):", "",
                  "| " + " | ".join(f"fast_{p:g}" for p in P_VALUES) + " | geomean (correct) | geomean (correct, faster) |",
                  "|" + "---|" * (len(P_VALUES) + 2),
                  "| " + " | ".join(f"{s['fast_p'][p]:.2f}" for p in P_VALUES)
                  + f" | {s['geomean_correct']:.2f} | {s['geomean_correct_and_faster']:.2f} |"]
    text = "\n".join(lines) + "\n"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "suite.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(out, "suite.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    if importlib.util.find_spec("matplotlib") is None:
        log("report: matplotlib is not installed, so fast_p.png was not drawn (pip install matplotlib)")
    elif result["vs_eager"] or result["vs_compile"]:
        _chart(rows, os.path.join(out, "fast_p.png"))
    return text


def _chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .scores import fast_p
    ps = [i / 20 for i in range(0, 81)]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for key, label in (("eager_ms", "vs eager"), ("compile_ms", "vs torch.compile")):
        timed = [bool(r["correct"] and r[key] and r["call_ms"]) for r in rows]
        if any(timed):
            ax.step(ps, [fast_p(timed, [r[key] or 1.0 for r in rows], [r["call_ms"] or 1.0 for r in rows], p)
                         for p in ps], where="post", label=label)
    ax.set_xlabel("p (speedup threshold)")
    ax.set_ylabel("fast_p")
    ax.set_ylim(0, 1.02)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
