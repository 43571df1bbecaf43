"""Agents: what answers a prompt with a candidate. A shell command (the prompt on its standard input, the answer on
its standard output) or `openai:MODEL`, any OpenAI-compatible chat endpoint through the official `openai` client
(an optional extra: pip install lsemish[openai]; base URL and key from OPENAI_BASE_URL and OPENAI_API_KEY)."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field

from . import children


@dataclass
class Answer:
    """An agent's answer: its text, or an error (one line); seconds taken, tokens used where known."""
    text: str = ""
    error: str | None = None
    seconds: float = 0.0
    tokens: dict = field(default_factory=dict)


def run_limited(cmd, timeout, stdin_text=None, shell=False, env=None):
    """(returncode, stdout, stderr, timed_out) of cmd; on timeout its whole process group is killed."""
    proc = children.start(cmd, shell=shell, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace", env=env)  # any bytes: no crash
    try:
        out, err = proc.communicate(stdin_text, timeout=timeout)
        return proc.returncode, out, err, False
    except subprocess.TimeoutExpired:
        children.kill(proc)
        out, err = proc.communicate()
        return None, out, err, True
    finally:
        children.done(proc)


# What a shell agent is told besides the prompt, as environment variables (the loop's names for them -> the
# variables'): in a suite the same command answers several problems, and a prompt's code need not name its problem.
CONTEXT_VARIABLES = {"problem": "LSEMISH_PROBLEM", "problem_name": "LSEMISH_PROBLEM_NAME", "round": "LSEMISH_ROUND",
                     "candidate": "LSEMISH_CANDIDATE", "sets": "LSEMISH_SETS"}


class ShellAgent:
    def __init__(self, command, timeout):
        self.spec, self.command, self.timeout = command, command, timeout

    def ask(self, prompt, context=None):
        """The answer to `prompt`; `context` ({name in CONTEXT_VARIABLES: value}) reaches the command as its
        environment variables."""
        started = time.time()
        env = dict(os.environ, **{CONTEXT_VARIABLES[k]: str(v) for k, v in (context or {}).items()})
        rc, out, err, timed_out = run_limited(self.command, self.timeout, stdin_text=prompt, shell=True, env=env)
        answer = Answer(text=out, seconds=round(time.time() - started, 2))
        if timed_out:
            answer.error = f"agent: no answer within {self.timeout} s"
        elif rc != 0:
            answer.error = f"agent: exit {rc}: {(err.strip().splitlines() or [''])[-1][:200]}"
        return answer


class OpenAIAgent:
    """One chat completion per prompt; rate limits and transient errors retried with exponential backoff."""

    def __init__(self, model, timeout, retries=4, backoff_s=2.0):
        try:
            import openai
        except ImportError:
            raise SystemExit("--agent openai:MODEL needs the openai client: pip install 'lsemish[openai]'") from None
        self.spec, self.model, self.timeout, self.retries, self.backoff_s = f"openai:{model}", model, timeout, \
            retries, backoff_s
        self.openai = openai
        self.client = openai.OpenAI(timeout=timeout, max_retries=0)

    def ask(self, prompt, context=None):  # an endpoint sees the prompt alone
        started = time.time()
        transient = (self.openai.RateLimitError, self.openai.APITimeoutError, self.openai.APIConnectionError,
                     self.openai.InternalServerError)
        for attempt in range(self.retries + 1):
            try:
                reply = self.client.chat.completions.create(model=self.model,
                                                            messages=[{"role": "user", "content": prompt}])
                usage = getattr(reply, "usage", None)
                tokens = {"prompt": getattr(usage, "prompt_tokens", None),
                          "completion": getattr(usage, "completion_tokens", None)} if usage else {}
                return Answer(text=reply.choices[0].message.content or "", seconds=round(time.time() - started, 2),
                              tokens=tokens)
            except transient as e:
                if attempt == self.retries or time.time() - started > self.timeout:
                    return Answer(error=f"agent: {type(e).__name__} after {attempt + 1} attempt(s): "
                                        f"{str(e).splitlines()[0][:200]}", seconds=round(time.time() - started, 2))
                time.sleep(self.backoff_s * 2**attempt)
            except self.openai.OpenAIError as e:
                return Answer(error=f"agent: {type(e).__name__}: {str(e).splitlines()[0][:200]}",
                              seconds=round(time.time() - started, 2))
        return Answer(error="agent: no answer", seconds=round(time.time() - started, 2))


def make_agent(spec, timeout):
    """`openai:MODEL` or a shell command."""
    if spec.startswith("openai:"):
        return OpenAIAgent(spec.split(":", 1)[1], timeout)
    return ShellAgent(spec, timeout)
