"""The evaluation layer's parts on their own: the timing cross-check (with made-up clocks), the wire format, the
comparison, Landlock, problem sizes (--set) and the memory estimate."""
import os
import time
import subprocess
import sys
import textwrap

import pytest
import torch

from lsemish.evaluate import landlock, wire
from lsemish.evaluate.bench import calibrate, calibrate_queued, expected_overhead
from lsemish.evaluate.check import run_check, start_worker
from lsemish.evaluate.compare import compare
from lsemish.evaluate.memory import footprint
from lsemish.evaluate.sandbox import Limits
from lsemish.evaluate.timing import (CALL_SHARE, CPU_WORK_SHARE, OVERHEAD_RATIO, SLACK_MS, STALL_MS,
                                     below_its_work, commit_check, cross_check, overhead, queued_check, work_floor)
from lsemish.problems import EXAMPLES, ProblemError, load_problem, parse_sets

HERE = os.path.dirname(__file__)


# --- timing ---------------------------------------------------------------------------------------------------------

def test_honest_timings_agree_with_the_wall_clock():
    events = [0.36, 0.35, 0.37, 0.36]
    wall = [e + o for e, o in zip(events, [0.30, 0.31, 0.29, 0.32])]
    assert cross_check(events, wall, 0.30) is None
    assert overhead(events, wall) == pytest.approx(0.305)


def test_work_outside_the_timed_call_is_named():
    # KernelBench's events see 0.03 ms; the call's requests (device synchronized) take 0.36 ms more than such a
    # request costs in its worker.
    reason = cross_check([0.03] * 5, [0.69] * 5, 0.30)
    assert reason == "work outside the timed call: events 0.030 ms, wall clock 0.690 ms per call, 0.360 ms more " \
                     "than the protocol's own cost in its worker (0.300 ms, measured before its code was loaded)"


def test_the_expected_cost_is_the_workers_own_scaled_as_the_references():
    # A worker twice as slow at host work as the reference's (calibrated before its candidate was loaded) may cost
    # twice as much; the reference's growth from calibration to timed calls (here 1.2x) applies to it too.
    assert expected_overhead(0.8, {"call": 0.48, "calibration": 0.4}) == pytest.approx(0.96)
    assert expected_overhead(None, {"call": 0.48, "calibration": 0.4}) == 0.48  # no calibration: the reference's


def test_a_timer_that_reports_more_than_the_wall_clock_is_forged():
    assert "a replaced timer" in cross_check([5.0] * 3, [0.5] * 3, 0.1)
    assert "negative or NaN" in cross_check([float("nan")], [0.5], 0.1)
    assert cross_check([], [], 0.1) == "no timed call finished"


def test_the_per_request_bound_leaves_room_for_the_spread_between_honest_workers():
    # Honest: a worker whose requests cost a tenth more than the reference's. A forged timer that hides more than the
    # room (OVERHEAD_RATIO - 1 of the reference's cost, plus SLACK_MS) of a call, or all of it, is caught.
    assert cross_check([0.43] * 5, [0.43 + 0.33] * 5, 0.30) is None
    room = (OVERHEAD_RATIO - 1) * 0.30 + SLACK_MS + CALL_SHARE * 2.0  # about: CALL_SHARE of the reported events
    assert cross_check([2.0 - 0.8 * room] * 5, [2.0 + 0.30] * 5, 0.30) is None  # the room a forger has
    assert "work outside the timed call" in cross_check([2.0 - 1.1 * room] * 5, [2.0 + 0.30] * 5, 0.30)
    assert "work outside the timed call" in cross_check([0.0004] * 5, [2.0 + 0.30] * 5, 0.30)
    assert cross_check([0.005] * 5, [0.31, 0.32, 0.30, 0.33, 0.31], 0.30) is None  # 5 us of work: jitter
    # One stalled request in five does not move the median.
    assert cross_check([0.43] * 5, [0.73, 0.74, 5.0, 0.73, 0.72], 0.30) is None
    assert commit_check(0.06, 0.05, 30, 0.43) is None
    assert commit_check(0.603, 0.427, 30, 0.375) is None  # an honest twin's commitment on an H200 (session 13)
    assert commit_check(0.5, 0.2, 1, 0.43) is None  # one stalled request of a block of one call
    assert "work after its calls" in commit_check(0.5, 0.05, 30, 0.43)


def test_the_work_floor_holds_a_per_call_figure_to_the_work_the_trusted_clock_saw():
    # On an H200 a forged timer hid a whole 0.37 ms call inside the per-request room (session 13). The floor: 100
    # queued calls of 0.345 ms, whose request and commitment cost 4 ms of protocol in this worker (calibrated 4 ms).
    calls, work, protocol = 100, 0.345, 4.0
    floor = work_floor(calls * work + protocol, protocol, calls)
    assert floor == (calls * work + protocol - OVERHEAD_RATIO * protocol - 2 * STALL_MS) / calls
    assert 0.29 < floor < work  # a lower bound of the work, within 15 % of it (OVERHEAD_RATIO 2.0: 4 ms of room)
    assert below_its_work(0.375, floor) is None  # the honest per-call figure (a cold L2 makes it the larger)
    assert below_its_work(work, floor) is None  # a per-call figure as fast as the queued work itself
    for forged in (0.0004, 0.27):  # a thousandth; 0.72 of an honest 0.375 (above: raised to its work instead)
        assert "a call cannot take less than its work" in below_its_work(forged, floor)
    # Work hidden anywhere in the queued request or its commitment is inside the wall clock: the floor stays.
    assert work_floor(calls * work + protocol + 1.0, protocol, calls) > floor
    # Calls far shorter than their protocol: the floor says nothing (0), and nothing is rejected for it.
    assert work_floor(100 * 0.002 + 4.0, 4.0, 100) == 0.0 and below_its_work(0.001, 0.0) is None
    assert below_its_work(0.44, None) is None  # no queued figure: nothing to compare
    # A long call whose per-call and queued work are the same: its figure jitters around the floor, within CALL_SHARE
    long_floor = work_floor(100 * 50.0 + 4.0, 4.0, 100)
    assert below_its_work(50.0 * (1 - 0.8 * CALL_SHARE), long_floor) is None
    assert "a call cannot take less than its work" in below_its_work(50.0 * 0.75, long_floor)
    # through the interpreter (a loaded 2-core host): an honest CPU hog read 25.16 ms against a floor of 26.63 ms in
    # CI (session 13); a timer forged to a thousandth is still far below
    assert below_its_work(25.16, 26.63, CPU_WORK_SHARE) is None
    assert "a call cannot take less than its work" in below_its_work(0.025, 26.63, CPU_WORK_SHARE)
    # Queued calls (ten of 0.34 ms): their request and commitment cost 0.6 ms in this worker. Honest: a stall of a
    # request; caught: work done while their inputs were made (a red team's torch function mode, 3.4 ms of it), a
    # forged timer.
    assert queued_check(3.4, 3.4 + 0.6 + 0.9, 0.6) is None
    assert "work outside the timed calls" in queued_check(0.05, 0.05 + 0.6 + 3.4, 0.6)
    assert "work outside the timed calls" in queued_check(0.004, 4.2, 0.6)


def _round(call_ms, calls, queued_events, flushed_events, protocol=15.0):
    """A round's figures as bench.time_block makes them, for a worker whose protocol costs `protocol` ms around its
    queued calls (and did so in its calibration) and 0.4 ms around a timed call."""
    return {"events": [call_ms] * 30, "walls": [call_ms + 0.4] * 30, "calibration_ms": 0.4, "commit_ms": 10.0,
            "block": 30, "call_median_ms": call_ms, "queued": calls,
            "queued_events_ms": queued_events, "queued_wall_ms": queued_events + protocol,
            "queued_calibration_ms": protocol, "flushed_events_ms": flushed_events,
            "flushed_wall_ms": flushed_events + protocol, "flushed_calibration_ms": protocol}


BASELINE = {"call": 0.4, "calibration": 0.4, "commit": 10.0, "queued": 15.0, "queued_calibration": 15.0,
            "flushed": 15.0, "flushed_calibration": 15.0}


def test_a_launch_bound_call_is_held_to_the_work_it_does_behind_the_flush_as_a_timed_call_is():
    # H200, sessions 19-22: softplus's honest Triton candidate (8 us of GPU work, 30-130 us of Python launch in its
    # worker) reads ~0.01-0.03 ms per call, its launch running while the 256 MB L2 flush (0.06 ms) does, as in
    # KernelBench's loop; queued back to back its calls wait for every launch (0.05 ms each). Judged by those it was
    # rejected, or reported at 0.05-0.08 ms (4x eager's, where KernelBench reads it faster than eager). Its calls
    # queued each behind the flush do the work its timed calls do: 0.06 + 0.008 ms each.
    from lsemish.evaluate.bench import time_checks
    from lsemish.evaluate.timing import at_least_its_work
    flush, calls = 0.06, 100
    row = _round(0.0085, calls, queued_events=calls * 0.05, flushed_events=calls * (flush + 0.008))
    assert time_checks(row, BASELINE, "cuda", flush) is None
    assert abs(row["work_ms"] - 0.008) < 1e-9 and at_least_its_work(0.0085, row["work_ms"]) == (0.0085, False)
    # A GPU-bound call (problem 22's: 0.345 ms of work, 0.36 per call) forged low gains nothing from the flush: the
    # flushed calls' work less the flush is its work, a figure far below it rejects, one a little below is raised.
    row = _round(0.1, calls, queued_events=calls * 0.345, flushed_events=calls * (flush + 0.345))
    assert "a call cannot take less than its work" in time_checks(row, BASELINE, "cuda", flush)
    for forged in (0.2, 0.33):
        row = _round(forged, calls, queued_events=calls * 0.345, flushed_events=calls * (flush + 0.345))
        assert time_checks(row, BASELINE, "cuda", flush) is None
        assert at_least_its_work(forged, row["work_ms"]) == (row["work_ms"], True)
        assert abs(row["work_ms"] - 0.345) < 1e-9
    # work hidden outside the flushed calls' events shows on this side's clock, as for the calls back to back: a
    # little of it counts in the figure (0.1 ms a call more), much of it is named
    row = _round(0.33, calls, queued_events=calls * 0.345, flushed_events=calls * (flush + 0.345))
    row["flushed_wall_ms"] += 10.0
    assert time_checks(row, BASELINE, "cuda", flush) is None and abs(row["work_ms"] - 0.445) < 1e-9
    row["flushed_wall_ms"] += 30.0
    assert "work outside the timed calls" in time_checks(row, BASELINE, "cuda", flush)


def test_a_figure_forged_within_the_floors_room_is_raised_to_its_work():
    # H200, session 14: the deliverable's queued work 0.333 ms per call (100 calls in 44.44 ms, protocol 11.15 ms),
    # its per-call figure 0.36-0.40; a timer forged to 0.85 of that passes below_its_work (floor ~0.295) and would
    # have won by 15 %: its figure is its work on this side's clock instead, 0.333, what the honest one does.
    from lsemish.evaluate.timing import at_least_its_work, work_estimate
    work = work_estimate(44.44, 11.15, 100)
    assert abs(work - 0.3329) < 1e-4 and work > work_floor(44.44, 11.15, 100)
    forged = 0.85 * 0.385
    assert below_its_work(forged, work_floor(44.44, 11.15, 100)) is None
    assert at_least_its_work(forged, work) == (work, True)
    assert at_least_its_work(0.385, work) == (0.385, False)  # the honest figure is its own
    assert at_least_its_work(0.385, None) == (0.385, False)  # no queued calls: nothing to raise it to
    assert work_estimate(100 * 0.002 + 4.0, 4.5, 100) == 0.0  # protocol calibrated above all of it


def test_a_workers_calibration_runs_before_any_candidate_code(tmp_path):
    # The candidate leaves a file in its working folder when it is imported; bench's calibration (timed calls of
    # the worker's stand-in) must find none, and the candidate must be loaded after it.
    cand = tmp_path / "loud.py"
    cand.write_text(textwrap.dedent("""
        import torch
        open("CANDIDATE-IMPORTED", "w").close()

        class ModelNew(torch.nn.Module):
            def __init__(self, *args, **kwargs):
                super().__init__()

            def forward(self, x):
                return x
        """))
    seen = {}

    def before_load(worker):
        import random
        seen["overhead"] = calibrate(worker, random.Random(0), "cpu", calls=3)
        seen["queued"] = calibrate_queued(worker, random.Random(1), 3)
        seen["imported"] = os.path.exists(os.path.join(worker.scratch, "CANDIDATE-IMPORTED"))
        worker.request({"op": "queued", "seeds": [5, 6]})
        seen["commit"] = worker.request({"op": "commit", "key": [1, 2, 3, 4]})
    # the stand-in's outputs have the reference's shapes (as bench gives them: memory.footprint), so that the
    # calibration commits as many numbers as the candidate's calls will (session 14: a third of the protocol)
    shapes = footprint(load_problem(EXAMPLES["matmul"]))["output_shapes"]
    worker, why = start_worker(EXAMPLES["matmul"], str(cand), {}, 0, "cpu", Limits(request_s=30), str(tmp_path),
                               before_load=before_load, stand_in=shapes)
    assert worker is not None, why
    try:
        header, tensors = seen["commit"]
        assert header["shapes"] == [[shapes[0][0]]] * 2 and len(shapes) == 1 and shapes[0][1] == "float32"
        assert tensors[0].dtype == torch.float64 and tensors[0].numel() == sum(sum(c) for c in header["digest_counts"])
        assert header["digest_counts"][0][0] == min(64, shapes[0][0][0] * shapes[0][0][1])
        assert seen["overhead"] > 0 and seen["queued"] > 0 and not seen["imported"]
        assert os.path.exists(os.path.join(worker.scratch, "CANDIDATE-IMPORTED"))
    finally:
        worker.close()


def test_the_seccomp_filter_refuses_what_it_lists_and_nothing_else(tmp_path):
    # In a child process (the filter cannot be removed): each call's errno with the filter in force. Refused: a
    # POSIX message queue, file_setattr, the inode-flag ioctl, another process's limits, new sockets (unix, UDP), a
    # new session or process group (what a candidate starts stays in the group its worker's kill ends); allowed: other ioctls (ENOTTY on a pipe), this process's own limits, a socketpair.
    target = tmp_path / "f"
    target.write_text("x")
    script = textwrap.dedent(f"""
        import ctypes, errno, fcntl, array, os, socket, sys
        from lsemish.evaluate.seccomp import refuse_metadata_and_admin_calls
        assert refuse_metadata_and_admin_calls() is None
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def err(fn):
            ctypes.set_errno(0)
            try:
                r = fn()
            except OSError as e:
                return errno.errorcode.get(e.errno, e.errno)
            return errno.errorcode.get(ctypes.get_errno(), "ok") if r == -1 else "ok"
        attr = (ctypes.c_long * 8)(0, 4, 64, 0, 0, 0, 0, 0)
        fd = os.open({str(target)!r}, os.O_RDONLY)
        flags = array.array("l", [0])
        r, w = os.pipe()
        limit = (ctypes.c_long * 2)(1 << 30, 1 << 30)
        group_before = os.getpgrp()
        print(err(lambda: libc.syscall(ctypes.c_long(240), b"lsemish_test_q", 0o100, 0o600, attr)),
              err(lambda: libc.syscall(ctypes.c_long(469), -100, {str(target)!r}.encode(), None, 0, 0)),
              err(lambda: fcntl.ioctl(fd, 0x40086602, flags, True)),
              err(lambda: libc.syscall(ctypes.c_long(302), os.getppid(), 9, limit, None)),
              err(lambda: libc.syscall(ctypes.c_long(302), 0, 9, None, limit)),
              err(lambda: fcntl.ioctl(r, 0x5401, b"\\0" * 64)),
              err(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
              err(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
              err(lambda: socket.socketpair()),
              err(lambda: os.setsid()), err(lambda: os.setpgid(0, 0)),
              "same" if os.getpgrp() == group_before else "moved",
              err(lambda: fcntl.fcntl(fd, 1024, 0)), err(lambda: fcntl.fcntl(fd, fcntl.F_GETFL)))
        """)
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("the numbers above are x86-64's")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(HERE), "src")))
    import ctypes
    ctypes.CDLL(None).syscall(ctypes.c_long(241), b"lsemish_test_q")  # mq_unlink, should a regression have made it
    assert out.returncode == 0, out.stderr
    mq, setattr_, setflags, parent, own, other, unix, udp, pair, session, group, moved, lease, getfl = \
        out.stdout.split()
    assert (mq, setattr_, setflags, parent, unix, udp, session, lease) == ("EPERM",) * 8
    assert getfl == "ok"
    # a new process group: answered as done, not done (ninja's jobs, under torch's load_inline, call it)
    assert (group, moved) == ("ok", "same")
    assert own == "ok" and other == "ENOTTY" and pair == "ok"


def test_the_reuse_probe_calls_an_answer_stale_only_when_it_is_the_old_one(tmp_path):
    # Wrong on its second call only (the reuse probe): the old inputs' answer would be stale, this one is not.
    cand = tmp_path / "second_call_off.py"
    cand.write_text(textwrap.dedent("""
        import torch

        class ModelNew(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.calls = 0

            def forward(self, A, B):
                self.calls += 1
                return torch.matmul(A, B) * (1.01 if self.calls == 2 else 1.0)
        """))
    r = run_check(EXAMPLES["matmul"], str(cand), trials=1, dists=("kernelbench",), device="cpu", log=lambda m: None)
    reuse = next(row for row in r["trials"] if row["trial"] == "reuse")
    assert reuse["reason"].startswith("failed the reuse probe"), reuse["reason"]


def _bpf(program, nr, arch, args=()):
    # A classic-BPF interpreter for the instructions the filter uses: its answer for one system call.
    import struct
    from lsemish.evaluate import seccomp
    args = (tuple(args) + (0,) * 6)[:6]
    data = struct.pack("<iIQ6Q", nr, arch, 0, *[a & (2**64 - 1) for a in args])
    insns = [struct.unpack("HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc = acc = 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == seccomp._LD_ABS_W:
            acc, pc = struct.unpack_from("<I", data, k)[0], pc + 1
        elif code in (seccomp._JEQ_K, seccomp._JGE_K):
            hit = acc == k if code == seccomp._JEQ_K else acc >= k
            pc += 1 + (jt if hit else jf)
        else:
            return {seccomp._RET_ALLOW: "allow", seccomp._RET_ERRNO | seccomp._EPERM: "EPERM",
                    seccomp._RET_ERRNO: "pretend"}[k]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_the_seccomp_program_answers_each_call_as_listed(arch):
    # Its jumps simulated: listed calls refused, others allowed; limits and affinity of this process only; the flag
    # ioctls refused whatever their high bits, other ioctls allowed; x32 calls and other architectures' calls (32-bit
    # calls through int 0x80 on x86-64: a reviewer changed a file's mode that way) refused.
    from lsemish.evaluate import seccomp
    audit, column, _ = seccomp._ARCHES[arch]
    program, _ = seccomp._program(audit, column)
    refused = {nums[column] for nums in seccomp.CALLS.values() if nums[column] is not None}
    special = {nums[column] for nums in seccomp.SELF_ONLY.values()} | {seccomp.IOCTL[1][column],
                                                                       seccomp.FCNTL[1][column]}
    pretended = {nums[column] for nums in seccomp.PRETENDED.values() if nums[column] is not None}
    assert all(_bpf(program, nr, audit) == "EPERM" for nr in refused)
    assert pretended and all(_bpf(program, nr, audit) == "pretend" for nr in pretended)
    assert all(_bpf(program, nr, audit) == "allow" for nr in range(600) if nr not in refused | special | pretended)
    for nums in seccomp.SELF_ONLY.values():
        assert _bpf(program, nums[column], audit, (0,)) == "allow"
        assert _bpf(program, nums[column], audit, (1234,)) == "EPERM"
    ioctl = seccomp.IOCTL[1][column]
    for cmd in seccomp.REFUSED_IOCTLS.values():
        assert _bpf(program, ioctl, audit, (3, cmd)) == _bpf(program, ioctl, audit, (3, cmd | 0xFFFF << 32)) == "EPERM"
    assert all(_bpf(program, ioctl, audit, (3, cmd)) == "allow" for cmd in (0x80086601, 0x5401, 0x541B, 0))
    fcntl_nr = seccomp.FCNTL[1][column]  # a lease and directory notifications refused; locks and the rest allowed
    assert _bpf(program, fcntl_nr, audit, (3, 1024)) == _bpf(program, fcntl_nr, audit, (3, 1026)) == "EPERM"
    assert all(_bpf(program, fcntl_nr, audit, (3, cmd)) == "allow" for cmd in (0, 1, 2, 3, 4, 5, 6, 7, 1025, 1030))
    assert _bpf(program, 15, 0x40000003) == "EPERM"  # AUDIT_ARCH_I386's chmod
    if arch == "x86_64":
        assert _bpf(program, 0x40000000 | 90, audit) == "EPERM"  # x32's chmod


# --- wire -----------------------------------------------------------------------------------------------------------

def test_frames_carry_tensors_of_every_dtype_and_no_code():
    r, w = os.pipe()
    tensors = [torch.randn(3, 4), torch.randn(5).bfloat16(), torch.arange(6, dtype=torch.int64).view(2, 3),
               torch.empty(0, 7), torch.tensor(True)]
    wire.send(w, {"hello": 1}, tensors)
    header, got = wire.recv(r, deadline=None)
    assert header["hello"] == 1 and len(got) == len(tensors)
    for a, b in zip(tensors, got):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def test_a_frame_larger_than_the_pipe_arrives_whole_and_a_huge_claim_is_an_error():
    # read straight into the tensor's memory, across many partial reads; a header claiming more than the machine
    # can hold is one line naming the memory (or, where it can, a frame that never arrives), never a crash here
    import threading
    r, w = os.pipe()
    big = torch.randn(5_000_000)
    sender = threading.Thread(target=wire.send, args=(w, {"n": 1}, [big]))
    sender.start()
    header, got = wire.recv(r, deadline=time.monotonic() + 60)
    sender.join()
    assert header["n"] == 1 and torch.equal(got[0], big)
    r, w = os.pipe()
    body = b'{"tensors": [{"dtype": "float64", "shape": [30000000000]}]}'
    os.write(w, len(body).to_bytes(8, "big") + body)
    with pytest.raises(wire.WireError, match="no host memory here for a reply's tensor of 223.52 GiB|timeout") as e:
        wire.recv(r, deadline=time.monotonic() + 1)  # this machine's shortage, said so (it was "malformed")
    # a size the sender chose, through the pipe: the sender's failure (ReplyTooLarge), never "no verdict" (a
    # reviewer claimed 200 GiB to turn a rejection into one, session 17)
    assert str(e.value) == "timeout" or isinstance(e.value, wire.ReplyTooLarge)


def test_malformed_and_closed_channels_are_errors():
    r, w = os.pipe()
    os.write(w, (2**40).to_bytes(8, "big"))
    with pytest.raises(wire.WireError, match="malformed"):
        wire.recv(r)
    r, w = os.pipe()
    body = b'{"tensors": [{"dtype": "pickle", "shape": [1]}]}'
    os.write(w, len(body).to_bytes(8, "big") + body)
    with pytest.raises(wire.WireError, match="malformed"):
        wire.recv(r)
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(wire.WireError, match="closed"):
        wire.recv(r)


def _shared(nbytes):
    import mmap

    from lsemish.evaluate.sandbox import _shared_outputs
    fd, size = _shared_outputs(nbytes)
    return (fd, size), mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)


def test_tensors_that_fit_cross_in_the_shared_memory_and_others_through_the_pipe():
    # the same tensors both ways; the frame says which: a 6 GB output crossed a pipe at 0.87 GB/s (issue 26)
    tensors = [torch.randn(3, 4), torch.randn(5).bfloat16(), torch.arange(6, dtype=torch.int64).view(2, 3),
               torch.empty(0, 7), torch.tensor(True), torch.randn(4, 6).t(), torch.randn(3, dtype=torch.complex64)]
    bulk, memory = _shared(4096)
    for room, through_memory in ((memory, True), (memoryview(memory)[:64], False)):  # the second: too small
        r, w = os.pipe()
        wire.send(w, {"hello": 1}, tensors, room)
        header, got = wire.recv(r, bulk=bulk)
        assert header.get("bulk", False) is through_memory and header["hello"] == 1
        for a, b in zip(tensors, got):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        memory[:] = b"\xff" * len(memory)  # what the worker writes later changes nothing received
        assert all(torch.equal(a, b) for a, b in zip(tensors, got))


def test_a_large_output_goes_to_the_device_through_the_staging_buffer_whole_and_private(monkeypatch):
    # on a GPU the trusted side puts large outputs on the device, staged through a small pinned buffer (a whole host
    # copy was 3.9 s of a 5.8 s trial at 6.4 GB: session 17); here the same code path with a host "device" and a
    # 1000-byte buffer, so that the chunks, their offsets and the last short one are exercised
    monkeypatch.setattr(wire, "_staging", {"cpu": torch.empty(1000, dtype=torch.uint8)})
    bulk, memory = _shared(1 << 16)
    data = torch.randn(4321)
    start = 128
    memory[start:start + data.numel() * 4] = data.numpy().tobytes()
    flat = torch.empty(data.numel() * 4, dtype=torch.uint8)
    wire._read_bulk_to(bulk, start, flat)
    memory[:] = b"\xff" * len(memory)  # what the worker writes later changes nothing received
    assert torch.equal(flat.view(torch.float32), data)
    with pytest.raises(ValueError, match="ended early"):  # a range past the memory's end: a short read, never a fault
        wire._read_bulk_to(bulk, len(memory) - 64, torch.empty(4000, dtype=torch.uint8))


def test_the_shared_memory_holds_every_output_of_a_call_each_at_an_aligned_offset():
    # sized from the outputs' total alone, two outputs of 4000 bytes missed it by their alignment and crossed the pipe
    from lsemish.evaluate.memory import output_room
    size = {"outputs": 8000, "output_shapes": [[[1000], "float32"], None, [[1000], "float32"]]}
    bulk, memory = _shared(output_room(size))
    r, w = os.pipe()
    outs = [torch.randn(1000), torch.randn(1000)]
    wire.send(w, {}, outs, memory)
    header, got = wire.recv(r, bulk=bulk)
    assert header.get("bulk") is True and all(torch.equal(a, b) for a, b in zip(outs, got))
    assert output_room({"outputs": None, "output_shapes": None}) is None


def test_the_shared_memory_cannot_change_size_and_a_bad_offset_is_a_malformed_frame():
    (fd, size), memory = _shared(1000)
    assert size == 1024
    for new in (0, 1 << 30):  # a worker that shrank it would fault a reader of a mapping; one that grew it, the host
        with pytest.raises(PermissionError):
            os.ftruncate(fd, new)
    for spec, why in (({"dtype": "float32", "shape": [256], "offset": 64}, "outside the shared memory"),
                      ({"dtype": "float32", "shape": [4], "offset": -64}, "outside the shared memory"),
                      ({"dtype": "float32", "shape": [4], "offset": "0"}, "outside the shared memory"),
                      ({"dtype": "float32", "shape": [4]}, "outside the shared memory")):
        r, w = os.pipe()
        body = ('{"bulk": true, "tensors": [%s]}' % str(spec).replace("'", '"')).encode()
        os.write(w, len(body).to_bytes(8, "big") + body)
        with pytest.raises(wire.WireError, match=f"malformed.*{why}"):
            wire.recv(r, bulk=(fd, size))
    r, w = os.pipe()  # tensors in a memory this side never gave
    body = b'{"bulk": true, "tensors": [{"dtype": "float32", "shape": [4], "offset": 0}]}'
    os.write(w, len(body).to_bytes(8, "big") + body)
    with pytest.raises(wire.WireError, match="malformed.*did not give"):
        wire.recv(r)


# --- compare --------------------------------------------------------------------------------------------------------

def test_compare_uses_the_dtype_tolerance_and_names_the_output():
    e = torch.randn(100, 3)
    assert compare([e + 5e-5], [e])["passed"]
    r = compare([e + 1e-2], [e])
    assert not r["passed"] and r["reason"].startswith("output 0 differs from the reference: max-abs 1.00e-02")
    assert compare([(e + 5e-3).bfloat16()], [e.bfloat16()])["passed"]  # 1e-2 for 16-bit outputs
    nan = e.clone()
    nan[0, 0] = float("nan")
    assert "NaN or inf" in compare([nan], [e])["reason"]
    assert "shape (100,)" in compare([e[:, 0]], [e])["reason"]
    assert "returned 2 output(s)" in compare([e, e], [e])["reason"]
    assert not compare([torch.tensor([1, 2])], [torch.tensor([1, 3])])["passed"]


def test_compare_reports_the_error_against_float64():
    gold = torch.randn(50, dtype=torch.float64)
    r = compare([gold.float()], [gold.float()], [gold])
    assert r["passed"] and 0 < r["outputs"][0]["rel_l2_vs_fp64"] < 1e-7


def test_a_finite_value_where_the_reference_is_infinite_fails_as_torch_isclose_says():
    # |5 - inf| <= tol + tol * inf read "within" before (session 15); the same infinity still passes
    e = torch.tensor([1.0, float("inf"), float("-inf"), 3.0])
    assert not compare([torch.tensor([1.0, 5.0, float("-inf"), 3.0])], [e])["passed"]
    assert compare([e.clone()], [e])["passed"]
    assert not compare([torch.tensor([1.0, float("-inf"), float("-inf"), 3.0])], [e])["passed"]


def test_the_finite_fast_path_gives_the_general_paths_figures():
    # every trial of a right candidate takes the fast path (a third of the passes over the data): it must agree with
    # the general one on any finite data, right or wrong, with and without a gold
    from lsemish.evaluate.compare import _any_chunk, _finite_chunk
    gen = torch.Generator().manual_seed(7)
    for scale in (1e-7, 1e-5, 1e-3, 1.0):
        e = torch.randn(4000, generator=gen, dtype=torch.float64) * 10
        g = e + torch.randn(4000, generator=gen, dtype=torch.float64) * scale
        r = e + torch.randn(4000, generator=gen, dtype=torch.float64) * 1e-6
        for gold in (r, None):
            for tol in (1e-4, 1e-2):
                fast, full = _finite_chunk(g, e, gold, tol), _any_chunk(g, e, gold, tol)
                assert fast[0] == full[0] and fast[4:5] == full[4:5] and fast[6:] == full[6:], (scale, tol)
                # max_abs, then each norm as (scale, scaled sum of squares)
                def flat(p):
                    return (p[1], *p[2], *p[3], *p[5])
                assert flat(fast) == pytest.approx(flat(full), rel=1e-9)


# --- landlock -------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(landlock.abi_version() < 1, reason="this kernel has no Landlock")
def test_landlock_refuses_writes_outside_the_allowed_folder(tmp_path):
    allowed, outside = tmp_path / "scratch", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.join(HERE, '..', 'src')!r})
        from lsemish.evaluate.landlock import restrict_writes
        assert restrict_writes([{str(allowed)!r}]) is None
        open({str(allowed / 'ok')!r}, 'w').write('x')
        try:
            open({str(outside / 'no')!r}, 'w').write('x')
        except PermissionError:
            print('refused')
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "refused", r.stderr
    assert (allowed / "ok").exists() and not (outside / "no").exists()


# --- problems: sizes and memory -------------------------------------------------------------------------------------

def test_sets_override_module_sizes_and_bad_ones_are_named():
    assert parse_sets(["batch_size=16", "scale=0.5", "flag=true"]) == {"batch_size": 16, "scale": 0.5, "flag": True}
    p = load_problem(None, {"batch_size": 3})
    assert p.get_inputs()[0].shape == (3, 8192)
    with pytest.raises(ProblemError, match="has no module-level size of that name; it has: batch_size=1024"):
        load_problem(None, {"batch": 3})
    with pytest.raises(ProblemError, match="expected NAME=VALUE"):
        parse_sets(["16"])


def test_a_set_size_reaches_the_module_lines_computed_from_it(tmp_path):
    # KernelBench's level-2 problems derive shapes at module level (bias_shape = (out_channels, 1, 1)): a --set
    # out_channels must change them too, or the bias no longer fits the convolution. Tuple assignments, annotated
    # ones and a size used in another size follow as well; the file itself is not changed.
    problem = tmp_path / "derived.py"
    source = textwrap.dedent("""
        import torch
        import torch.nn as nn

        batch_size = 128
        in_channels, out_channels = 8, 64
        bias_shape = (out_channels, 1, 1)
        height: int = 32
        width = height * 2

        class Model(nn.Module):
            def __init__(self, cin, cout, bias_shape):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3)
                self.bias = nn.Parameter(torch.randn(bias_shape))

            def forward(self, x):
                return self.conv(x) + self.bias

        def get_inputs():
            return [torch.rand(batch_size, in_channels, height, width)]

        def get_init_inputs():
            return [in_channels, out_channels, bias_shape]
        """)
    problem.write_text(source)
    p = load_problem(str(problem), {"batch_size": 2, "out_channels": 4, "height": 8})
    assert (p.bias_shape, p.width, p.in_channels) == ((4, 1, 1), 16, 8)
    model = p.Model(*p.get_init_inputs())
    assert model(*p.get_inputs()).shape == (2, 4, 6, 14)
    assert problem.read_text() == source
    assert load_problem(str(problem)).bias_shape == (64, 1, 1)


def test_a_set_size_follows_into_blocks_and_bad_values_are_one_line(tmp_path):
    # Sizes bound inside if/for/with blocks (module scope), by a walrus, in a file with a BOM and its own annotations;
    # a size set from a function (global) cannot be followed and says so; whole sizes take whole values only.
    problem = tmp_path / "blocks.py"
    problem.write_bytes(b"\xef\xbb\xbf" + textwrap.dedent("""
        import torch
        import torch.nn as nn

        if True:
            n = 8
            twice_n = 2 * n
        for k in range(3):
            pass
        via_k = k + 1
        (w := 10)
        by_w = w * 3
        height: int = 4

        def _bind():
            global g
            g = 5

        _bind()

        class Model(nn.Module):
            def forward(self, x):
                return x * 2

        def get_inputs():
            return [torch.rand(n, height)]

        def get_init_inputs():
            return []
        """).encode())
    p = load_problem(str(problem), {"n": 3, "k": 6, "w": 2, "height": 5})
    assert (p.n, p.twice_n, p.via_k, p.by_w, p.get_inputs()[0].shape) == (3, 6, 7, 6, (3, 5))
    assert p.__annotations__ == {"height": int}  # not the loader's own `from __future__ import annotations`
    for sets, msg in (({"g": 2}, "--set g: problem .* does not assign g in a statement of its own"),
                      ({"n": 2.5}, r"--set n=2.5: n is a whole number \(8\)"),
                      ({"n": float("inf")}, "--set n=inf: not a finite number")):
        with pytest.raises(ProblemError, match=msg):
            load_problem(str(problem), sets)
    assert load_problem(str(problem), {"n": 4.0}).n == 4


BIG = '''
import torch
import torch.nn as nn

batch_size = 4096
dim = 393216


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.sigmoid(x)


def get_inputs():
    return [torch.rand(batch_size, dim)]


def get_init_inputs():
    return []
'''


def test_a_problem_too_big_for_the_machine_is_one_line_and_set_makes_it_fit(tmp_path):
    # KernelBench level 1's Sigmoid has a 6 GiB input: a check would hold many times that. Before allocating
    # anything, check says what it needs and which sizes --set can change; shrunk, it passes.
    problem = tmp_path / "sigmoid.py"
    problem.write_text(BIG)
    own = tmp_path / "own.py"
    own.write_text(BIG + "\nModelNew = Model\n")
    with pytest.raises(ProblemError, match=r"needs about \d+\.\d GiB for a check \(inputs 6\.00 GiB.*--set NAME=VALUE "
                                           r"\(its sizes: batch_size=4096, dim=393216\)"):
        run_check(str(problem), str(own), log=lambda m: None)
    r = subprocess.run([sys.executable, "-m", "lsemish", "check", "--problem", str(problem), "--candidate", str(own)],
                       capture_output=True, text=True, env=dict(os.environ, TRITON_INTERPRET="1"))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "needs about" in r.stderr, r.stderr
    small = run_check(str(problem), str(own), {"batch_size": 8, "dim": 64}, trials=1, log=lambda m: None)
    assert small["verdict"] == "pass", small["reason"]


def test_examples_pass_with_their_own_reference_as_candidate(tmp_path):
    # The protocol on a problem whose candidate is its own reference (what issue 26 runs over KernelBench).
    for name, path in EXAMPLES.items():
        own = tmp_path / f"{name}_own.py"
        own.write_text(open(path).read() + "\nModelNew = Model\n")
        r = run_check(path, str(own), trials=1, log=lambda m: None)
        assert r["verdict"] == "pass", (name, r["reason"])


NAIVE_SOFTMAX = """
import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        e = torch.exp(x)  # no max subtracted: overflows beyond 88
        p = e / e.sum(dim=1, keepdim=True)
        return (p * x).sum(dim=1, keepdim=True)
"""


def test_an_exp_without_its_max_fails_on_large_inputs_and_only_there(tmp_path):
    # Right on get_inputs() (torch.rand) and on every unit-scale or small distribution; NaN on inputs of magnitude
    # ~50 or around 100, where the check judges against the float64 result (allclose would also fail honest matmuls
    # there).
    naive = tmp_path / "naive.py"
    naive.write_text(NAIVE_SOFTMAX)
    r = run_check(EXAMPLES["row_softmax_mean"], str(naive), trials=1, log=lambda m: None)
    assert r["kernelbench"]["passed"] == 2 and r["verdict"] == "fail"
    assert "large (normal x 50)" in r["summary"] and "NaN or inf where the reference is finite" in r["reason"]
    assert [d for d, c in r["other"].items() if c["passed"] < c["planned"]] == ["scaled", "offset"]



def test_a_checks_outputs_cross_in_shared_memory_and_a_candidate_cannot_resize_it(tmp_path, monkeypatch):
    # every trial's reply puts its tensors in the worker's shared memory; a candidate that tries to shrink it (which
    # would fault a reader of a mapping) or grow it (host memory) is refused by the seals and still judged as usual
    seen, real = [], wire.recv

    def spy(*args, **kwargs):
        header, tensors = real(*args, **kwargs)
        seen.append((header.get("bulk", False), len(tensors)))
        return header, tensors
    monkeypatch.setattr(wire, "recv", spy)
    resize = tmp_path / "resize.py"
    resize.write_text(open(EXAMPLES["matmul"]).read() + textwrap.dedent("""
        import os
        tried = []
        for fd in range(3, 64):
            try:
                os.ftruncate(fd, 0)  # the shared memory among the descriptors it inherited
            except OSError as e:
                tried.append(type(e).__name__)
        ModelNew = Model
        """))
    r = run_check(EXAMPLES["matmul"], str(resize), trials=1, log=lambda m: None)
    assert r["verdict"] == "pass", r["reason"]
    assert [bulk for bulk, n in seen if n] and all(bulk for bulk, n in seen if n)


def test_memory_held_in_memory_files_counts_against_the_workers_limit(tmp_path):
    # a red team's (session 16): 2 GiB written into memfds with write() passed under a 1 GiB limit, since the limit
    # read the worker's resident set alone; here 1 GiB under a limit of 1 GiB, the worker's own ~0.3 GiB beside it
    hoard = tmp_path / "hoard.py"
    hoard.write_text(open(EXAMPLES["matmul"]).read() + textwrap.dedent("""
        import os, time
        HOARD = []
        for _ in range(4):
            fd = os.memfd_create("hoard")
            for _ in range(16):
                os.write(fd, b"\x01" * (1 << 24))
            HOARD.append(fd)


        class ModelNew(Model):
            def forward(self, *args):
                time.sleep(0.6)  # a call long enough for the limit to be read while it runs
                return super().forward(*args)
        """))
    r = run_check(EXAMPLES["matmul"], str(hoard), trials=1, dists=("kernelbench",), limits=Limits(host_gib=1.0),
                  log=lambda m: None)
    assert r["verdict"] == "fail" and "over its limit of 1 GiB" in r["reason"], r["reason"]
    assert "memory files" in r["reason"]


COMPILED = """
import torch


class ModelNew(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.f = torch.compile(lambda a, b: torch.matmul(a, b), backend="eager")

    def forward(self, A, B):
        return self.f(A, B)
"""

INLINE = """
import torch
from torch.utils.cpp_extension import load_inline

ext = load_inline(name="lsemish_test_mm", cpp_sources=\"\"\"
#include <torch/extension.h>
torch::Tensor mm(torch::Tensor a, torch::Tensor b) { return torch::matmul(a, b); }
\"\"\", functions=["mm"])


class ModelNew(torch.nn.Module):
    def forward(self, A, B):
        return ext.mm(A, B)
"""


def _builds_extensions():
    import shutil
    from torch.utils import cpp_extension
    return cpp_extension.is_ninja_available() and shutil.which(os.environ.get("CXX", "c++")) is not None


@pytest.mark.parametrize("name", ["compiled", pytest.param("inline", marks=pytest.mark.skipif(
    not _builds_extensions(), reason="no ninja or C++ compiler here: torch's load_inline cannot build"))])
def test_honest_candidates_that_compile_pass(tmp_path, name):
    # a red team's (session 16): torch.compile failed as "replaced torch.manual_seed" (importing torch._dynamo
    # replaces it; its first compile replaces nn.Module.__init__: a worker whose candidate names it now makes both
    # changes before its snapshot), and every load_inline extension failed to build ("ninja: fatal: posix_spawn:
    # Operation not permitted": ninja gives its jobs process groups of their own)
    path = tmp_path / f"{name}.py"
    path.write_text({"compiled": COMPILED, "inline": INLINE}[name])
    r = run_check(EXAMPLES["matmul"], str(path), trials=1, dists=("kernelbench",), limits=Limits(setup_s=600),
                  log=lambda m: None)
    assert r["verdict"] == "pass", r["reason"]


def test_a_worker_prepares_for_torch_compile_only_where_the_code_names_it(tmp_path):
    # the preparation costs a second of every worker's start-up: lsemish's own deliverable (torch.compile in its
    # comments only) is spared it
    from lsemish import deliverable_source
    from lsemish.evaluate.worker import compiles
    cases = {"f = torch.compile(g)": True, "import torch._dynamo": True, "from torch import compile": True,
             "# torch.compile(g)": False, "s = 'torch.compile(g)'": False, "torch.compiler.is_compiling()": False,
             deliverable_source(): False, "def (": False}
    for k, (source, expected) in enumerate(cases.items()):
        path = tmp_path / f"c{k}.py"
        path.write_text(source)
        assert compiles(str(path)) is expected, source[:40]


# --- the commitment of a timed call's outputs ---------------------------------------------------------------------

def test_a_digest_accepts_what_allclose_accepts_and_nothing_far_from_it():
    import random

    from lsemish.evaluate import commit
    rng = random.Random(5)
    ref = torch.randn(300, 7, dtype=torch.float32)
    ref[0, 0], ref[1, 1] = float("nan"), float("inf")
    for _ in range(20):
        key = commit.new_key(rng)
        near = ref + (torch.rand_like(ref) * 2 - 1) * (1e-4 + 1e-4 * ref.abs()) * 0.99  # within allclose
        near[0, 0], near[1, 1] = float("nan"), float("inf")
        assert commit.check(commit.digest([near], key), [ref], key, [1e-4]) is None
        for bad in (torch.zeros_like(ref), ref.roll(1, 0), ref * 1.5, torch.randn_like(ref)):
            assert "does not match the reference" in commit.check(commit.digest([bad], key), [ref], key, [1e-4])
    ints = torch.arange(10)
    key = commit.new_key(rng)
    assert commit.check(commit.digest([ints], key), [ints], key, [0.0]) is None
    assert commit.check(commit.digest([ints + 1], key), [ints], key, [0.0]) is not None
    assert "committed 0 digest(s) for 1 output(s)" in commit.check([], [ref], key, [1e-4])
    flat = ref.reshape(-1)  # the same values, another shape: the digest alone cannot tell
    assert commit.check(commit.digest([flat], key), [ref], key, [1e-4]) is None
    assert "output 0 has shape (2100,), the reference's is (300, 7)" in commit.check(
        commit.digest([flat], key), [ref], key, [1e-4], [[2100]])


def test_a_digest_notices_outputs_that_change_after_it():
    import random

    from lsemish.evaluate import commit
    key = commit.new_key(random.Random(1))
    out = torch.randn(64)
    digests = commit.digest([out], key)
    assert commit.same(digests, [out.clone()], key)
    out[17] += 1e-3
    assert not commit.same(digests, [out], key)
    for forged in (None, "0", ["0"], [[1.0]], [None], [[float("nan")] * 64]):  # a worker's reply: no traceback
        assert not commit.same(forged, [out], key)


def test_kept_weights_are_the_drawn_ones_of_their_own_key_and_bounded(monkeypatch):
    # The weights are kept for the latest key (the trusted side checks a hundred calls under one key): a kept
    # tensor equals a fresh draw; a new key never reads the old key's; past the byte bound nothing is kept, and the
    # weights are still right.
    import random

    from lsemish.evaluate import commit
    rng = random.Random(9)
    k1, k2 = commit.new_key(rng), commit.new_key(rng)
    w1 = commit._weights(k1, 5, 1000, "cpu")
    assert commit._weights(k1, 5, 1000, "cpu") is w1 and torch.equal(w1, commit._draw_weights(k1, 5, 1000, "cpu"))
    w2 = commit._weights(k2, 5, 1000, "cpu")
    assert not torch.equal(w1, w2) and torch.equal(w2, commit._draw_weights(k2, 5, 1000, "cpu"))
    assert commit._KEPT[0] == k2 and set(commit._KEPT[1]) == {(5, 1000, "cpu")}
    out = torch.randn(300)
    assert commit.check(commit.digest([out], k1), [out], k1, [1e-4]) is None  # back to k1: its own weights
    assert "does not match" in commit.check(commit.digest([out], k2), [out], k1, [1e-4])
    monkeypatch.setattr(commit, "WEIGHTS_KEPT_BYTES", 100)  # twelve float64 weights
    commit._weights(k2, 0, 10, "cpu")  # 80 bytes: kept, and nothing of k1's
    assert commit._KEPT[0] == k2 and set(commit._KEPT[1]) == {(0, 10, "cpu")}
    assert torch.equal(commit._weights(k2, 10, 10, "cpu"), commit._draw_weights(k2, 10, 10, "cpu"))
    assert set(commit._KEPT[1]) == {(0, 10, "cpu")}  # 160 bytes in all would pass the bound: not kept
    listed = list(k1)
    commit._weights(listed, 0, 10, "cpu")
    listed[:] = k2  # a key changed in place after its use finds its own weights
    assert torch.equal(commit._weights(listed, 0, 10, "cpu"), commit._draw_weights(k2, 0, 10, "cpu"))
    before = commit._KEPT
    assert commit._weights(k1, 0, 10, "meta").device.type == "meta" and commit._KEPT is before  # CPU weights only


def test_digests_from_the_worker_are_finite_floats_and_huge_references_are_judged_in_full():
    # The worker's reply is any JSON value: a huge integer (its comparison would overflow: a reviewer crashed the
    # trusted process with 10**400), infinities and NaN are not a digest. A reference whose float64 sums overflow
    # cannot be judged by digest at all: bench then fetches the outputs and compares them in full.
    import random

    from lsemish.evaluate import commit
    key = commit.new_key(random.Random(2))
    out = torch.randn(100)
    good = commit.digest([out], key)
    assert commit.check(good, [out], key, [1e-4]) is None and commit.same(good, [out], key)
    count = len(good[0])
    for forged in ([10**400] * count, [float("inf")] * count, [float("-inf")] * count, [True] * count):
        assert "digest is not" in commit.check([forged], [out], key, [1e-4])
        assert not commit.same([forged], [out], key)
    huge = torch.full((10,), 1e200, dtype=torch.float64)
    assert commit.NOT_BY_DIGEST in commit.check([[0.0] * 10], [huge], key, [1e-4])
    cplx = torch.randn(8, dtype=torch.complex64)
    other = cplx.clone()
    other.imag += 1.0  # only the imaginary parts differ
    assert commit.check(commit.digest([other], key), [cplx], key, [1e-4]) is not None


def test_outputs_of_one_shape_are_digested_together_as_each_would_be_alone(monkeypatch):
    # A block's outputs of one shape and dtype go through one stacked pass (a few launches for all, session 13);
    # each digest equals the output's own within float64 rounding, and the trusted check accepts it at tolerance 0.
    import random

    from lsemish.evaluate import commit
    rng = random.Random(5)
    monkeypatch.setattr(commit, "CHUNK", 4096)  # batches of CHUNK // n outputs; outputs over CHUNK // 2 alone
    for shapes in ([(1024, 1)] * 7, [(3, 5)] * 9 + [(1,)] * 3, [(2500,)] * 3, [(63,), (64,), (65,), (63,)]):
        calls = [[torch.randn(*sh) * 10 ** rng.randint(-3, 3)] for sh in shapes]
        calls.append([torch.randn(4, 4, dtype=torch.complex64), None, torch.empty(0)])
        calls[0][0].view(-1)[0] = float("nan")  # a non-finite value counts as 0, as alone
        key = commit.new_key(rng)
        together = commit.digests(calls, key)
        for outs, got in zip(calls, together):
            for t, d in zip(outs, got):
                if not isinstance(t, torch.Tensor):
                    assert d is None
                    continue
                alone = commit._device_sums(t, key, bounds=False)[0].tolist()
                assert len(d) == len(alone)
                assert all(abs(a - b) <= 1e-12 * (1 + abs(b)) for a, b in zip(d, alone)), shapes
                if t.numel() and bool(torch.isfinite(torch.view_as_real(t) if t.is_complex() else t).all()):
                    assert commit.check([d], [t], key, [0.0]) is None
    # one wrong value in the fifth of seven outputs shows in its digest only
    outs = [torch.randn(1024, 1) for _ in range(7)]
    key = commit.new_key(rng)
    wrong = [t.clone() for t in outs]
    wrong[4][100, 0] += 1.0
    got = commit.digests([[t] for t in wrong], key)
    assert [commit.check(d, [t], key, [1e-4]) is None for d, t in zip(got, outs)] == [True] * 4 + [False] + [True] * 2


def test_a_digest_is_one_sum_per_stretch_whatever_the_passes(monkeypatch):
    # The stretches' sums equal the direct ones when passes are shorter or longer than a stretch; an output whose last
    # 1 % is wrong fails that stretch, and only that one.
    import random

    from lsemish.evaluate import commit
    rng = random.Random(3)
    monkeypatch.setattr(commit, "CHUNK", 1000)
    for n in (1, 63, 64, 65, 1000, 1001, 64 * 1000 + 7, 200_001):
        t, key = torch.randn(n), commit.new_key(rng)
        length, count = commit.stretches(n)
        contributions = commit._weights(key, 0, n, "cpu") * t.double()
        direct = [contributions[j * length:(j + 1) * length].sum().item() for j in range(count)]
        got = commit.digest([t], key)[0]
        assert min(n, 33) <= count <= 64 and len(got) == count
        assert max(abs(a - b) for a, b in zip(got, direct)) < 1e-9, n
    ref = torch.randn(100_000, generator=torch.Generator().manual_seed(0))
    bad = ref.clone()
    bad[-1000:] = 0  # its last rows never written
    for _ in range(5):
        key = commit.new_key(rng)
        assert "1 of its 64 stretches differ; stretch 63" in commit.check(commit.digest([bad], key), [ref], key, [1e-3])


def test_no_room_to_poison_is_the_evaluators_problem_not_the_candidates(monkeypatch):
    # issue 26: the NaN fill before a trial is the evaluator's own allocation; where the device has no room for it,
    # the trial goes on unpoisoned (the outputs are still judged) instead of failing a correct candidate
    from lsemish.evaluate.worker import Server
    server = Server(None, None, None)
    server.device = "cuda"

    def full(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 96.00 GiB")
    monkeypatch.setattr(server, "torch", type("T", (), {"full": staticmethod(full),
                                                         "OutOfMemoryError": torch.OutOfMemoryError}))
    assert server.poison(96 * 2**30) is False
    server.device = "cpu"
    assert server.poison(1 << 20) is True


def test_inputs_are_drawn_on_the_device_only_where_get_inputs_works_there():
    from lsemish.evaluate.check import draws_on_device

    class Ref:
        def __init__(self, device, fails):
            self.device, self.fails = device, fails

        def inputs(self, seed, dist, on_device=False):
            if self.fails:
                raise RuntimeError("Expected a 'cuda' device type for generator")
            return []
    assert draws_on_device(Ref("cpu", False)) == (False, None)
    assert draws_on_device(Ref("cuda", False)) == (True, None)
    on, note = draws_on_device(Ref("cuda", True))
    assert not on and "drawn on the host" in note and "RuntimeError" in note


def test_a_problem_whose_output_the_wire_cannot_carry_is_said_before_any_candidate(tmp_path):
    # a red team's (session 15): an honest candidate of a float8 reference failed as "candidate raised WireError"
    from lsemish.evaluate.check import run_check
    from lsemish.problems import ProblemError
    (tmp_path / "p.py").write_text(textwrap.dedent("""
        import torch
        class Model(torch.nn.Module):
            def forward(self, x):
                return x.to(torch.float8_e4m3fn)
        def get_inputs():
            return [torch.rand(4, 8)]
        def get_init_inputs():
            return []
        ModelNew = Model
        """))
    with pytest.raises(ProblemError, match="returns a float8_e4m3fn output, which check cannot carry"):
        run_check(str(tmp_path / "p.py"), str(tmp_path / "p.py"), trials=1, device="cpu", log=lambda m: None)


def test_a_workers_group_is_killed_only_while_its_number_is_still_its_own(tmp_path, monkeypatch):
    # A reviewer's (session 15): kill() sent SIGKILL to the worker's process group after the worker had been reaped
    # (every close() waited for it first; bench closes a worker twice), when another session leader may have its
    # number. The worker is now reaped only by kill(), after the group's kill, and never signalled again.
    from lsemish.evaluate import sandbox
    from lsemish.evaluate.sandbox import Worker, private_root, release_root
    root = private_root("lsemish-test-")
    worker = Worker(root, "w")
    calls = []
    real = os.killpg
    monkeypatch.setattr(sandbox.os, "killpg", lambda pgid, sig: (calls.append(pgid), real(pgid, sig)))
    worker.close()  # asks it to exit, waits without reaping, then kills its group while the number is pinned
    assert calls == [worker.proc.pid] and worker.proc.returncode is not None
    worker.close()
    worker.kill()
    assert calls == [worker.proc.pid]  # nothing more, to a number that is free now
    release_root(root, keep=False)


PINNED_PROBE = textwrap.dedent("""
    import os, statistics, time, torch
    from lsemish.evaluate.cpus import pinned
    x = torch.rand(2_000_000, dtype=torch.float64)
    y = torch.empty_like(x)  # written in place: no fresh 16 MB allocation (page faults) in the timing
    def op_ms():
        times = []
        for _ in range(9):
            t0 = time.perf_counter()
            torch.mul(x, x, out=y).abs_()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3
    threads, cpus = torch.get_num_threads(), os.sched_getaffinity(0)
    with pinned(min(cpus)):  # torch's pool has not started: its threads would start inside, on one CPU
        inside = op_ms()
        assert torch.get_num_threads() == 1 and os.sched_getaffinity(0) == {min(cpus)}
    assert torch.get_num_threads() == threads and os.sched_getaffinity(0) == cpus
    torch.set_num_threads(1)
    print(inside / op_ms())
""")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_pinned_trusted_side_keeps_its_speed():
    # The bench's trusted side verifies every timed call's outputs while pinned to one CPU: with torch's whole pool
    # started on that CPU, a 2M-element float64 operation ran 10x slower (35 ms against 3.6 on a 2-CPU machine) and a
    # bench of 8 MB outputs did not finish a round in 120 s on an H200 (session 19). Pinned, one thread: as fast as
    # one thread unpinned (without the thread count: 16x here).
    run = subprocess.run([sys.executable, "-c", PINNED_PROBE], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH="src"))
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) < 3.0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_unpinned_work_spreads_over_the_spare_cpus_only():
    # The bench's checks of a block's outputs run while the worker waits: on every CPU but the worker's, then back on
    # the trusted side's one CPU with one thread for the next timed calls.
    from lsemish.evaluate.cpus import pinned, unpinned
    cpus, threads = os.sched_getaffinity(0), torch.get_num_threads()
    first, spare = min(cpus), cpus - {max(cpus)}  # max(cpus): the worker's, as sandbox.timing_cpus picks it
    with unpinned():  # outside pinned(): nothing changes
        assert os.sched_getaffinity(0) == cpus and torch.get_num_threads() == threads
    with pinned(first, spare):
        with unpinned():
            assert os.sched_getaffinity(0) == spare
            assert torch.get_num_threads() == max(1, min(threads, len(spare)))
        assert os.sched_getaffinity(0) == {first} and torch.get_num_threads() == 1
    assert os.sched_getaffinity(0) == cpus and torch.get_num_threads() == threads


def test_a_check_holds_earlier_trials_outputs_within_its_byte_budget(monkeypatch):
    # Server.held: every earlier trial's outputs while they fit TRIAL_KEPT_BYTES (so that a candidate taking two or
    # three buffers in turn returns memory still held: tests/hostile/output_rotation.py), the newest always.
    from lsemish.evaluate import worker
    this = type("W", (), {"Tensor": torch.Tensor})()
    trials = [[torch.zeros(256)], [torch.zeros(256), 3], [torch.zeros(512)]]  # 1 KiB, 1 KiB, 2 KiB
    monkeypatch.setattr(worker, "TRIAL_KEPT_BYTES", 4096)
    assert worker.Server.held(this, trials) == trials
    monkeypatch.setattr(worker, "TRIAL_KEPT_BYTES", 3072)
    assert worker.Server.held(this, trials) == trials[1:]
    monkeypatch.setattr(worker, "TRIAL_KEPT_BYTES", 16)
    assert worker.Server.held(this, trials) == trials[2:]


def test_edges_alone_carry_the_reuse_probes():
    # The reuse probe follows the first distribution's first trial, edges included when they come first (a traceback
    # until session 27: the probe refilled its inputs from a distribution named "edges", which draws nothing).
    from lsemish.evaluate.inputs import EDGES
    from lsemish.problems.problem22 import __file__ as problem22
    r = run_check(problem22, None, {"batch_size": 8, "input_size": 16, "hidden_size": 12}, trials=1, dists=(EDGES,),
                  device="cpu", model_kwargs={"precision": "fp32"}, log=lambda m: None)
    assert r["verdict"] == "pass" and [row["trial"] for row in r["trials"]] == [0, "reuse"], r


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1.0, 1e160, 1e200])
def test_the_float64_gate_reads_outputs_of_any_magnitude(scale):
    # ||got - gold|| / ||gold|| without squaring values under ~1e-154 (0/0: a red team's zeros and doubled answers of
    # 1e-200 read rel-L2 0, session 27) or over ~1e154 (inf/inf: a right answer off by 1e-9 read NaN and failed)
    from lsemish.evaluate.compare import BOTH, GOLD
    gen = torch.Generator().manual_seed(5)
    gold = torch.randn(3000, generator=gen, dtype=torch.float64) * scale
    for rule in (BOTH, GOLD):
        assert compare([gold * (1 + 1e-9)], [gold.clone()], [gold], rule=rule)["passed"]
        for wrong in (gold * 2, torch.zeros_like(gold), gold * (1 + 1e-3)):
            r = compare([wrong], [gold.clone()], [gold], rule=rule)
            assert not r["passed"] and "off the float64 result" in r["reason"], (rule, r["reason"])
        assert compare([gold * 2], [gold.clone()], [gold], rule=rule)["outputs"][0]["rel_l2_vs_fp64"] == \
            pytest.approx(1.0)


def test_a_reference_that_fails_in_float64_is_its_own_gold(tmp_path):
    # A reference that makes float32 tensors in forward cannot run as a float64 twin; allclose alone then passed a
    # softmax whose probabilities under 9e-5 were zeroed (27-35 % of them; a red team's, session 27). The reference
    # itself, widened, is the gold from then on: the zeroed softmax fails, an honest one passes.
    problem = tmp_path / "softmax_made_inside.py"
    problem.write_text(textwrap.dedent("""
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def forward(self, x):
                w = torch.sin(torch.arange(64 * 512).reshape(64, 512).float()) * 0.6
                return torch.softmax(x @ w, dim=1)

        def get_inputs():
            return [torch.randn(8, 64)]

        def get_init_inputs():
            return []
        """))
    verdicts = {}
    for name, tail in (("honest", "return torch.softmax(x @ w, dim=1)"),
                       ("zeroed", "p = torch.softmax(x @ w, dim=1)\n        return torch.where(p < 9e-5, 0.0, p)")):
        cand = tmp_path / f"{name}.py"
        cand.write_text(textwrap.dedent("""
            import torch
            import torch.nn as nn

            class ModelNew(nn.Module):
                def forward(self, x):
                    w = torch.sin(torch.arange(64 * 512).reshape(64, 512).float()) * 0.6
                    TAIL
            """).replace("TAIL", tail))
        verdicts[name] = run_check(str(problem), str(cand), trials=2, device="cpu", log=lambda m: None)
    assert verdicts["honest"]["verdict"] == "pass", verdicts["honest"]["reason"]
    assert verdicts["zeroed"]["verdict"] == "fail" and "off the float64 result" in verdicts["zeroed"]["reason"]
