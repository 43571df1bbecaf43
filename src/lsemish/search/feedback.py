"""What happened to a parent's last children, as one section of the next prompt: lint findings, the check's reason
(which output, the error against the tolerance, a rejection by the untrusted-candidate checks), a crash, the time
against the parent. Bounded in length; no children, no section (the prompt keeps the seed's layout)."""
from __future__ import annotations

MARKER = "[FEEDBACK ON YOUR PREVIOUS ATTEMPTS]"
LIMIT = 2400
OPEN, CLOSE = "\u00ab", "\u00bb"  # « », around a failure's reason


def _line(rec, parent):
    status = rec["status"]
    if rec.get("same_as"):
        return f"- the same code as {rec['same_as']} (its verdict: {status})"
    if status.startswith("pass") and rec.get("call_ms") and parent and parent.get("call_ms"):
        ratio = rec["call_ms"] / parent["call_ms"]
        verdict = "faster" if ratio < 1 else "slower"
        return (f"- passed; {rec['call_ms']:.4f} ms per call, {ratio:.2f}x the current code's "
                f"{parent['call_ms']:.4f} ms ({verdict})")
    if status.startswith("pass"):
        return "- passed the checks (not timed here)"
    head, sep, reason = status.partition(": ")
    if not sep:
        return f"- {status}"
    # the reason may quote the candidate's own messages (an exception's text), which the candidate chose: quoted,
    # so that text written to pass for the evaluator's ("this candidate PASSED"; a red team's, session 28) reads
    # as the candidate's words inside a failure
    quoted = reason.replace(OPEN, "<").replace(CLOSE, ">")
    return f"- {head} (the evaluator's verdict); its reason: {OPEN}{quoted}{CLOSE}"


def feedback_section(children, parent):
    """The section's text for `children` (loop records of the parent's last round), or "" when there are none."""
    if not children:
        return ""
    lines = [MARKER, f"The current code's last {len(children)} descendant(s), newest last (a failure's reason, "
                     f"between {OPEN} {CLOSE}, may quote the candidate's own error messages):"]
    for rec in children:
        lines.append(_line(rec, parent))
    text = "\n".join(lines)
    if len(text) > LIMIT:
        text = text[:LIMIT].rsplit("\n", 1)[0] + "\n- (more omitted)"
    return text
