"""The loop's child processes (agents; lint, check, bench and profile steps). Each runs in a process group of its
own, so that a time limit kills everything it started; all of them are killed together when the loop stops (Ctrl-C,
SIGTERM) instead of running on after it (a suite stopped by `timeout` on an H200 left its running step behind,
session 17). A child killed by the stop is never a result: whoever waited on it gets `Stopped`, so that no round
records "agent: exit -9" or a killed check as what its candidate did (a reviewer's suite did, and marked the round
done)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

_live = {}  # id(proc) -> proc
# Re-entrant: the stop's handler (which takes it in stop_all) runs in the main thread, which must not deadlock
# should it hold the lock there (today only pool and agent threads start children).
_lock = threading.RLock()
_stopped = False


class Stopped(Exception):
    """The loop is stopping: no child starts, and a child it killed is no result."""


def start(cmd, **popen_kwargs):
    """subprocess.Popen(cmd) in a new process group, known until `done`."""
    with _lock:
        if _stopped:
            raise Stopped("the loop is stopping")
        proc = subprocess.Popen(cmd, start_new_session=True, **popen_kwargs)
        _live[id(proc)] = proc
    return proc


def kill(proc):
    """SIGKILL to proc's whole process group, unless proc was reaped (its number may be another's by now)."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def done(proc):
    """proc is over (reaped): what it left running in its group is killed (an agent's `cmd &`: the group's number
    stays reserved while it has members), and proc is forgotten here. Stopped if the loop is stopping (its output
    is no result)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    with _lock:
        _live.pop(id(proc), None)
        if _stopped:
            raise Stopped("the loop is stopping")


def stopping():
    return _stopped


def die_with_parent():
    """In a step (`python -m lsemish ...` started by the loop, LSEMISH_PARENT_PID set): be killed when the process
    that started it dies, however it dies (a Ray task cancelled by force runs no handler, and its steps, in groups
    of their own, outlived it). Linux only; elsewhere nothing changes."""
    parent = os.environ.get("LSEMISH_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # it died before the request was made
        os._exit(1)


def stop_all():
    """Kill every live child's group; none starts after this, and every wait on one ends in Stopped."""
    global _stopped
    with _lock:
        _stopped = True
        procs = list(_live.values())
    for proc in procs:
        kill(proc)


_at_stop = []


def at_stop(fn):
    """fn() runs when a signal stops the process (exit_on_signals), after the children are killed: what else the
    loop started (a Ray instance and its tasks)."""
    _at_stop.append(fn)


def exit_on_signals(message, code=130):
    """SIGTERM and SIGINT: kill every child, print `message` to stderr and end the process with `code` at once,
    from the handler (no thread's wait in between; state files are written whole, by replace)."""
    def stop(signum, frame):
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second signal during the stop changes nothing
            signal.signal(sig, signal.SIG_IGN)
        signal.alarm(10)  # whatever hangs below (a Ray shutdown, a blocked stdout), the process ends
        stop_all()
        try:
            os.write(2, (message + "\n").encode())
            for fn in _at_stop:
                try:
                    fn()
                except Exception:
                    pass
        finally:
            os._exit(code)
    global _handler
    _handler = stop
    reclaim_signals()


_handler = None


def reclaim_signals():
    """Set exit_on_signals' handler again, if it was set: a library that installs its own (ray.init does, for
    SIGTERM) would otherwise end the process without the stop."""
    if _handler is not None:
        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
