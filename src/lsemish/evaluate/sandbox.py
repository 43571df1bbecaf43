"""Trusted side: start, feed and watch one worker process (worker.py), which runs one candidate and nothing else.

The worker gets a fresh scratch folder as its working and home directory (and its temporary and cache folders), an
environment with only what Python, CUDA and Triton need (no tokens or keys of the user's), its file writes confined to
the scratch folder (Landlock, applied by the worker before it imports the candidate), and limits: a deadline on every
request, a cap on its host memory (checked while waiting) and a GPU memory fraction. Its standard output and error go
to a log file, capped. A worker that breaks any of these, dies, or sends anything but a well-formed reply has failed,
with one line saying how (`WorkerFailed`); it is killed and never reused.
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from ..problems import ProblemError
from . import wire

LOG_CAP = 1 << 20  # bytes of a candidate's output kept in its log
_ENV_KEEP = ("PATH", "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES", "TRITON_INTERPRET",
             "TRITON_PTXAS_PATH", "TRITON_LIBCUDA_PATH", "LANG", "LC_ALL", "NVIDIA_VISIBLE_DEVICES", "PYTHONPATH")


@dataclass(frozen=True)
class Limits:
    """What one worker may take: seconds per request (the first, which imports and builds, gets `setup_s`), host
    memory in GiB (resident set), the fraction of the GPU's memory; `triton_cache`: see `scratch`; `cpus`: the CPUs
    its process runs on (None: any)."""
    request_s: float = 120.0
    setup_s: float = 300.0
    host_gib: float = 32.0
    gpu_fraction: float = 0.9
    triton_cache: str | None = None
    cpus: tuple | None = None


def timing_cpus(limits):
    """(limits with the CPU every timed worker runs on, this process's CPU during the timing), both fixed for a whole
    bench, or (limits, None) on a machine of fewer than 4 CPUs or where `limits.cpus` is already set. One CPU for the
    worker, the same for each contender, and this process two CPUs away (another core where the numbering pairs
    hyperthreads): on an H200 machine two workers differed by up to 2x in every piece of host work, and a worker's
    per-call figure matched the in-process one only in the fast workers (perf-notes, session 11)."""
    if limits.cpus is not None or not hasattr(os, "sched_getaffinity"):
        return limits, None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 4:
        return limits, None
    return dataclasses.replace(limits, cpus=(allowed[-1],)), allowed[-3]


class WorkerFailed(Exception):
    """The worker did not deliver a complete, well-formed reply; the message says what happened instead."""


def clean(text, width=400):
    """A worker's message made safe to print: control characters (newlines, escape sequences) as spaces, one line,
    at most `width` characters; anything not a string becomes its repr."""
    text = text if isinstance(text, str) else repr(text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text[:width] + (" …" if len(text) > width else "")


def _become_subreaper():
    """Orphans of a worker (a daemon it double-forked) become this process's children, not init's, so that
    `reap_orphans` can end them: nothing a candidate started outlives its evaluation."""
    if sys.platform.startswith("linux"):
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


_LIVE = set()  # pids of this process's workers that are running, and of their guardians


# A worker's guardian: a shell outside the worker's group and this process's (its own session) that waits for the
# end of a pipe only this process holds open. When this process ends without ending the worker (killed from outside:
# the loop's step time limit, a SIGKILL, a crash), the kernel closes the pipe and the guardian kills the worker's
# group and removes the run's folder (its scratch folder and log); a candidate's helpers outlived a killed `check`
# under pid 1 before (a red team's, session 15). A candidate cannot signal it where Landlock scopes signals (ABI 6,
# Linux 6.12 on); on older kernels a candidate of the same user could stop it first (check's Landlock note says
# which ABI is in force).
_GUARD = 'read _; kill -s KILL -- "-$0" 2>/dev/null; chmod -R u+rwx -- "$1" 2>/dev/null; rm -rf -- "$1"'


def _guardian(pgid, scratch_root):
    """(the guardian's Popen, the write end of its pipe: closing it, or this process's end, sets it off). It removes
    the run's whole folder (the worker's scratch folder, its log): nothing is left to read them."""
    guard_r, guard_w = os.pipe()
    try:
        guard = subprocess.Popen(["/bin/sh", "-c", _GUARD, str(pgid), scratch_root], stdin=guard_r,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    finally:
        os.close(guard_r)
    return guard, guard_w


def _widen(fd):
    """A pipe's buffer at the most an unprivileged process may ask (/proc/sys/fs/pipe-max-size, 1 MiB by default;
    64 KiB otherwise): outputs of GBs cross in a sixteenth of the wake-ups."""
    try:
        with open("/proc/sys/fs/pipe-max-size") as fh:
            size = int(fh.read())
        fcntl.fcntl(fd, 1031, min(size, 1 << 24))  # F_SETPIPE_SZ
    except (OSError, ValueError):
        pass


F_ADD_SEALS, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW = 1033, 1, 2, 4


def _shared_outputs(nbytes):
    """(fd, size): a memfd of `nbytes` (rounded up to wire.BULK_ALIGN) whose size is sealed, for a worker's outputs
    (wire.send's `bulk`); None for no outputs or where memfds are unavailable (its replies then carry their bytes
    through the pipe, as every reply did before). Nothing is allocated until the worker writes."""
    if not nbytes or not hasattr(os, "memfd_create"):
        return None
    size = wire.room(int(nbytes))
    try:
        fd = os.memfd_create("lsemish-outputs", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)  # its worker only
    except OSError:
        return None
    try:
        os.ftruncate(fd, size)
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)  # no fault, no growth, for good
    except OSError:
        os.close(fd)
        return None
    return fd, size


def _processes():
    """{pid: (parent pid, process group)} of every process now (from /proc/PID/stat: the fields after the name's
    last parenthesis)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                table[int(entry)] = (int(fields[1]), int(fields[2]))
            except (OSError, ValueError, IndexError):
                continue
    return table


def reap_orphans():
    """End every descendant of this process that is not a live worker or inside one: as a subreaper it has adopted
    what workers left (a daemon a candidate double-forked, whatever it exec'd). First every one is stopped, scan
    after scan until a scan finds none running, then all are killed: a red team's helpers changed their pid by
    forking and exiting as fast as they could, and outran three rounds of kill until this process was gone (session
    14, tests/hostile/hopper.py); a stopped process forks no more. Returns how many were ended."""
    if not sys.platform.startswith("linux"):
        return 0
    me, stopped, give_up = os.getpid(), set(), time.monotonic() + 10
    while time.monotonic() < give_up:
        children = {}
        for pid, (parent, _) in _processes().items():
            children.setdefault(parent, []).append(pid)
        found, stack = [], [c for c in children.get(me, []) if c not in _LIVE]
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack.extend(children.get(pid, []))
        new = [pid for pid in found if pid not in stopped]
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
            stopped.add(pid)
    for pid in stopped:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    pending, deadline = set(stopped), time.monotonic() + 5
    while pending and time.monotonic() < deadline:  # each is reaped here once its parent is gone
        for pid in list(pending):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    pending.discard(pid)
            except ChildProcessError:
                if not os.path.exists(f"/proc/{pid}"):
                    pending.discard(pid)
        if pending:
            time.sleep(0.005)
    return len(stopped)


def _package_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _rss_gib(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        return 0.0
    return 0.0


def _memory_files(pid, seen, skip):
    """Bytes of the memory files (memfds) process `pid` holds open that are not in `seen` ((device, inode), updated)
    or `skip`: memory no resident set shows while it is not mapped."""
    total = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            if not os.readlink(path).startswith("/memfd:"):
                continue
            st = os.stat(path)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key not in seen and key not in skip:
            seen.add(key)
            total += st.st_blocks * 512
    return total


def held_gib(pgid, skip=()):
    """Host memory a worker's process group holds: each member's resident set and the memfds any of them holds open,
    each once (`skip`: (device, inode) of files counted elsewhere: the shared output memory, mapped, so in the
    worker's resident set). A red team held 2 GiB in memfds written with write() under a 1 GiB limit (session 16):
    never mapped, so in no resident set; a helper process's memory was in none of the worker's either."""
    seen, total = set(), 0
    for pid in (pid for pid, (_, group) in _processes().items() if group == pgid):
        total += _rss_gib(pid) * 2**30 + _memory_files(pid, seen, skip)
    return total / 2**30


def private_root(prefix):
    """A run's folder for its workers' scratch folders and logs, which no worker can list: mode 0o300 (its owner may
    create and enter, not read; a worker has no capability to override that). So a worker cannot see that another
    ran before it in the run, nor read its log, whose name is random (a reviewer told a retry that way, session 12).
    release_root makes it readable again, or removes it."""
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o300)
    return root


def remove_tree(path):
    """Remove a folder that a candidate could write, however deep and however its folders' modes are set; True when
    it is gone. shutil.rmtree recurses once per level, and a candidate's 3000 nested folders raised RecursionError in
    the evaluating process after a correct answer (a red team's, session 14): GNU rm walks any depth, rmtree is the
    fallback where there is no rm. First every folder is made the owner's to list and change, top down (GNU chmod -R
    changes a folder before it reads it, and follows no link): a folder made with mode 0o300 inside the scratch
    folder could not be emptied without root's powers, and its files stayed behind (a red team's, session 15)."""
    if not os.path.lexists(path):
        return True
    chmod, rm = shutil.which("chmod"), shutil.which("rm")
    if chmod and os.path.isdir(path) and not os.path.islink(path):
        subprocess.run([chmod, "-R", "u+rwx", "--", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
    if rm:
        subprocess.run([rm, "-rf", "--", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if os.path.lexists(path):
        try:
            shutil.rmtree(path, ignore_errors=True)
        except RecursionError:
            pass
    return not os.path.lexists(path)


def release_root(root, keep):
    """The run is over: `root` readable by its owner again (it holds the logs worth keeping), or removed. False
    when what should be gone is not (the caller says so)."""
    if os.path.isdir(root):
        os.chmod(root, 0o700)
        if not keep:
            return remove_tree(root)
    return True


def scratch(scratch_root, name, gpu=None, triton_cache=None):
    """(a fresh scratch folder, the environment of a worker that uses it as its home, temporary and cache folder).
    `triton_cache`: a Triton cache folder shared by several workers instead (only for candidates that trust each
    other, e.g. a set of our own: a worker can write anything there that the others then load)."""
    folder = tempfile.mkdtemp(prefix=f"{name}-", dir=scratch_root)
    home, tmp = os.path.join(folder, "home"), os.path.join(folder, "tmp")
    os.makedirs(home)
    os.makedirs(tmp)
    env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
    root = _package_root()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(HOME=home, TMPDIR=tmp, TRITON_CACHE_DIR=triton_cache or os.path.join(folder, "triton"),
               TORCHINDUCTOR_CACHE_DIR=os.path.join(folder, "inductor"), PYTHONDONTWRITEBYTECODE="1",
               PYTHONUNBUFFERED="1", XDG_CACHE_HOME=os.path.join(home, ".cache"),
               # inductor compiles in the worker itself: its pool of compile processes keeps a reader thread alive
               # after the call, which the worker reports as the candidate's (an honest torch.compile candidate
               # failed so on an H200, session 17)
               TORCHINDUCTOR_COMPILE_THREADS="1")
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return folder, env


class Worker:
    """One candidate's process. `request(header)` sends a request and returns (reply header, tensors)."""

    def __init__(self, scratch_root, name, limits=Limits(), gpu=None, triton_cache=None, output_bytes=None,
                 reply_device=None):
        """`output_bytes`: the size of the shared memory its replies' tensors cross in (memory.output_room: the
        reference's outputs of one call; wire.py); None: through the pipe. `reply_device`: where that memory's large
        tensors are put on arrival (wire.recv's device; check's comparison runs there), else the host."""
        self.limits, self.name, self._guard, self.left_behind = limits, name, None, None
        self.reply_device = reply_device
        if triton_cache:
            os.makedirs(triton_cache, exist_ok=True)  # Landlock can only allow a folder that exists
        self.scratch, env = scratch(scratch_root, name, gpu, triton_cache)
        self.log_path = os.path.join(scratch_root, f"{os.path.basename(self.scratch)}.log")
        _become_subreaper()
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        _widen(rep_w)
        self.bulk = _shared_outputs(output_bytes)
        self._own_files = {(st.st_dev, st.st_ino) for st in ([os.fstat(self.bulk[0])] if self.bulk else [])}
        try:
            self._start(req_r, rep_w, env, limits, triton_cache, scratch_root)
        except BaseException:  # a worker that never started leaves no descriptor open here (a reviewer's count)
            self._close_channels()
            raise

    def _start(self, req_r, rep_w, env, limits, triton_cache, scratch_root):
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lsemish.evaluate.worker", "--requests", str(req_r), "--replies", str(rep_w),
                 "--scratch", self.scratch] + (["--writable", triton_cache] if triton_cache else [])
                + (["--cpus", ",".join(map(str, limits.cpus))] if limits.cpus else [])
                + (["--outputs", str(self.bulk[0])] if self.bulk else []),
                cwd=self.scratch, env=env, pass_fds=(req_r, rep_w) + ((self.bulk[0],) if self.bulk else ()),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            os.close(req_r)
            os.close(rep_w)
        _LIVE.add(self.proc.pid)
        self._guard, self._guard_w = _guardian(self.proc.pid, scratch_root)
        _LIVE.add(self._guard.pid)
        self.log_bytes = 0
        self._drain = threading.Thread(target=self._capture, daemon=True)
        self._drain.start()
        self.dead, self.awaited = None, False
        hello, _ = self._receive(self.limits.setup_s, "start")
        self.landlock_note = hello.get("landlock")

    def _close_channels(self):
        """Once: a second close of the same numbers would close whatever file has them by then (bench closes its
        contenders' workers again at the end; a reviewer's finding, session 17)."""
        if getattr(self, "_channels_closed", False):
            return
        self._channels_closed = True
        for fd in (self.req_w, self.rep_r) + ((self.bulk[0],) if self.bulk else ()):
            try:
                os.close(fd)
            except OSError:
                pass

    def _capture(self):
        with open(self.log_path, "wb") as log:
            for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
                if self.log_bytes < LOG_CAP:
                    log.write(chunk[:LOG_CAP - self.log_bytes])
                self.log_bytes += len(chunk)
            if self.log_bytes > LOG_CAP:
                log.write(f"\n[lsemish: {self.log_bytes - LOG_CAP} more bytes of output dropped]\n".encode())

    def _alive(self):
        code = self._exit_code()
        if code is not None:
            raise WorkerFailed(self._exit_text(code))
        held = held_gib(self.proc.pid, self._own_files)  # its group's number is its pid (a new session)
        if held > self.limits.host_gib:
            self.kill()
            raise WorkerFailed(f"used {held:.1f} GiB of host memory (its processes and the memory files they hold), "
                               f"over its limit of {self.limits.host_gib:g} GiB")

    def _exit_text(self, code):
        if code < 0:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = str(-code)
            return f"the worker was killed by {sig} before it delivered its result"
        return f"the worker exited with status {code} before it delivered its result"

    def _receive(self, timeout, what, spin_s=0.0):
        if self.dead:
            raise WorkerFailed(self.dead)
        try:
            return wire.recv(self.rep_r, time.monotonic() + timeout, self._alive, spin_s, self.bulk,
                             self.reply_device)
        except WorkerFailed as e:
            self.dead = str(e)
            self.kill()
            raise
        except wire.WireError as e:
            code = self._exit_code()
            if str(e) == "timeout":
                text = f"no result within {timeout:g} s ({what}); the worker was killed"
            elif code is not None or str(e) == "closed":
                code = self._await_exit(5) if code is None else code
                text = self._exit_text(code if code is not None else 0)
            elif isinstance(e, wire.ReplyTooLarge):
                text = f"its reply could not be received: {e} (a tensor sent through the pipe)"
            elif isinstance(e, wire.NoMemoryHere):  # this side's shortage: no verdict on the candidate
                self.dead = f"its reply could not be received: {e}"
                self.kill()
                raise ProblemError(f"out of memory receiving the candidate's outputs, in the evaluator's own "
                                   f"process: {e}") from None
            else:
                text = f"the worker sent a malformed reply ({e})"
            self.dead = text
            self.kill()
            raise WorkerFailed(text) from None

    def request(self, header, timeout=None, what=None, spin_s=0.0):
        """Send one request; its reply (header, tensors). WorkerFailed if the worker cannot deliver one. `spin_s`:
        wait for the reply busily this long first (a timed request: see wire.recv)."""
        if self.dead:
            raise WorkerFailed(self.dead)
        try:
            wire.send(self.req_w, header)
        except OSError:
            self._alive()
            raise WorkerFailed(self._exit_text(self._exit_code() or 0)) from None
        self.awaited = True  # until its reply has come: a close meanwhile (Ctrl-C) kills rather than asks
        reply = self._receive(timeout or self.limits.request_s, what or header.get("op", "request"), spin_s)
        self.awaited = False
        if reply[0].get("fatal") and "error" not in reply[0]:  # every caller reads a fatal reply's "error"
            reply[0]["error"] = ""
        for key in ("error", "rejected"):  # the worker's words: one line, printable, bounded, never empty (a
            if key in reply[0]:  # forged {"rejected": ""} crashed check with a KeyError: red team, session 16)
                reply[0][key] = clean(reply[0][key]).strip() or f"its reply said {key!r} with no reason"
        if reply[0].get("fatal"):
            self.dead = reply[0]["error"]
            self.kill()
        return reply

    def _exit_code(self):
        """The worker's exit status (negative: the signal that ended it), or None while it runs; never reaps it. An
        unreaped worker, a zombie once it exits, keeps its pid and so its process group's number from being
        reused: a kill of the group after the worker was reaped could reach another process's group (a reviewer
        killed an unrelated session leader that way, session 15)."""
        if self.proc.returncode is not None:
            return self.proc.returncode
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return self.proc.poll()
        if info is None or info.si_pid == 0:
            return None
        return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status

    def _await_exit(self, timeout):
        """Its exit status within `timeout` seconds, or None; never reaps it (see _exit_code)."""
        deadline = time.monotonic() + timeout
        while (code := self._exit_code()) is None and time.monotonic() < deadline:
            time.sleep(0.005)
        return code

    def kill(self):
        """End the worker, its process group (which outlives a worker that exited: what it started stays in it, the
        filter refusing setsid and answering setpgid without doing it), and whatever it left behind that this
        process adopted. One signal to the group reaches a process that is forking and its new child too (the
        kernel sees to it), which no scan of /proc can promise. Its guardian goes first: a kill of the group left to it after the worker's pid is free
        could reach another process."""
        if self._guard is not None:
            self._guard.kill()
            self._guard.wait()
            os.close(self._guard_w)
            _LIVE.discard(self._guard.pid)
            self._guard = None
        if self.proc.returncode is None:  # not reaped yet (only here): its group's number is still its own
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        _LIVE.discard(self.proc.pid)
        reap_orphans()

    def close(self):
        """Ask the worker to exit (or, while a reply is awaited, as after Ctrl-C, do not wait for it), kill it if it
        does not, and remove its scratch folder."""
        if self._exit_code() is None and not self.dead and not self.awaited:
            try:
                wire.send(self.req_w, {"op": "exit"})
                self._await_exit(10)
            except OSError:
                pass
        self.kill()
        self._close_channels()
        self._drain.join(5)
        if not remove_tree(self.scratch):
            self.left_behind = self.scratch  # the caller says so: nothing of a candidate stays unnoticed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
