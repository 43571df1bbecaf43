"""The loop's child processes (agents; lint, check, bench and profile steps). Each runs in a process group of its
own, so that a time limit kills everything it started; all of them are killed together when the loop stops (Ctrl-C,
SIGTERM) instead of running on after it (a suite stopped by `timeout` on an H200 left its running step behind,
session 17)."""
from __future__ import annotations

import os
import signal
import subprocess
import threading

_live = {}
_lock = threading.Lock()
_stopped = False


class Stopped(Exception):
    """The loop is stopping: no new child starts."""


def start(cmd, **popen_kwargs):
    """subprocess.Popen(cmd) in a new process group, known until `done`."""
    with _lock:
        if _stopped:
            raise Stopped("the loop is stopping")
        proc = subprocess.Popen(cmd, start_new_session=True, **popen_kwargs)
        _live[proc.pid] = proc
    return proc


def kill(proc):
    """SIGKILL to proc's whole process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def done(proc):
    with _lock:
        _live.pop(proc.pid, None)


def stop_all():
    """Kill every live child's group; none starts after this."""
    global _stopped
    with _lock:
        _stopped = True
        procs = list(_live.values())
    for proc in procs:
        kill(proc)
