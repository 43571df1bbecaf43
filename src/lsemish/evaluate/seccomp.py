"""Refuse the system calls that change files without writing them, and those only an administrator needs, for this
process and everything it starts (a seccomp filter; unprivileged once no_new_privs is set).

Landlock (landlock.py) confines writing, creating, renaming and removing files, but not changing a file's mode,
owner, times or extended attributes: chmod, chown, utime and setxattr would still reach every file the user owns.
Nor does it take root's powers away, and the GPU machine runs as root: mount, reboot, module loading, clocks and the
like; io_uring, which does file operations without their system calls; POSIX message queues; new sockets (a
service listening on a unix socket outside the sandbox); new sessions and process groups (a helper that leaves its
worker's group outlives the kill that ends the group); and the ioctls that set a file's inode flags and attributes
through a descriptor opened for reading. The filter answers each of these with EPERM (the candidate sees a
PermissionError), except setpgid, which it answers as done without doing it (build tools call it; see PRETENDED).
Only the standard library: a classic BPF program built by hand, for x86-64 and arm64 (elsewhere it says it is not in
force).
"""
from __future__ import annotations

import ctypes
import os
import platform
import struct

_EPERM = 1
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_LD_ABS_W, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _MODE_FILTER = 38, 22, 2
_SET_MODE_FILTER, _FLAG_TSYNC = 1, 1

# name: (x86-64 number, arm64 number or None where arm64 has no such call)
CALLS = {
    "chmod": (90, None), "fchmod": (91, 52), "fchmodat": (268, 53), "fchmodat2": (452, 452),
    "chown": (92, None), "fchown": (93, 55), "lchown": (94, None), "fchownat": (260, 54),
    "utime": (132, None), "utimes": (235, None), "futimesat": (261, None), "utimensat": (280, 88),
    "setxattr": (188, 5), "lsetxattr": (189, 6), "fsetxattr": (190, 7), "removexattr": (197, 14),
    "lremovexattr": (198, 15), "fremovexattr": (199, 16), "setxattrat": (463, 463), "removexattrat": (466, 466),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "sethostname": (170, 161), "setdomainname": (171, 162),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106), "kexec_load": (246, 104),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171), "setns": (308, 268),
    # System V IPC and kernel keyrings outlive the process that made them; device nodes bypass Landlock's /dev rule.
    "shmget": (29, 194), "semget": (64, 190), "msgget": (68, 186), "add_key": (248, 217),
    "request_key": (249, 218), "keyctl": (250, 219), "mknod": (133, None), "mknodat": (259, 33),
    # io_uring runs file operations without their system calls, so without this filter's refusals (its SETXATTR and
    # FSETXATTR operations set extended attributes on any file the user owns: a red team's win, session 10).
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    # Another process's priority, scheduling and I/O class (same user, no capability needed).
    "setpriority": (141, 140), "ioprio_set": (251, 30), "sched_setparam": (142, 118),
    "sched_setscheduler": (144, 119), "sched_setattr": (314, 274),
    # POSIX message queues outlive every process, and Landlock does not see one made (a red team left one behind
    # after a passing check, session 11); file_setattr sets inode flags without the calls above (Linux 6.17).
    "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182), "mq_timedreceive": (243, 183),
    "mq_notify": (244, 184), "mq_getsetattr": (245, 185), "file_setattr": (469, 469),
    # Every new socket: Landlock governs making a unix socket's file, not connecting to one that a service outside
    # listens on (Docker's, D-Bus, a Ray node's), nor UDP, nor TCP on kernels without its network ABI (a red team
    # found the unix path, session 11). A worker needs none: its channel is two pipes; CUDA starts before the filter;
    # socketpair (a connected pair that reaches nothing outside) stays allowed.
    "socket": (41, 198),
    # A new session or process group: everything a candidate starts stays in its worker's process group, which one
    # kill ends at once, a process that is forking included (helpers that changed their pid by forking and exiting
    # as fast as they could outran every scan-and-kill of /proc on a loaded CI machine; session 15).
    "setsid": (112, 157),
}
# Answered "done" without being done: setpgid. Build tools put their jobs in process groups of their own (ninja, which
# torch's load_inline runs, through posix_spawn: refused, every such candidate failed to build; a red team's,
# session 16); they work on in the worker's group, where one kill still ends them.
PRETENDED = {"setpgid": (109, 154)}
# ioctl commands refused on any file: they change a file's inode flags, attributes, version, verity or encryption
# through a descriptor opened only for reading (Landlock governs ioctls on devices only; a red team set "nodump"
# and "noatime" on files outside its scratch folder this way, session 11). Compared on the command's low 32 bits.
IOCTL = "ioctl", (16, 29)
REFUSED_IOCTLS = {
    "FS_IOC_SETFLAGS": 0x40086602, "FS_IOC32_SETFLAGS": 0x40046602, "FS_IOC_FSSETXATTR": 0x401C5820,
    "FS_IOC_SETVERSION": 0x40087602, "FS_IOC32_SETVERSION": 0x40047602, "FS_IOC_ENABLE_VERITY": 0x40806685,
    "FS_IOC_SET_ENCRYPTION_POLICY": 0x800C6613,
}
# fcntl commands refused on any file: a lease (a read lease on a file opened for reading, outside the scratch folder,
# blocks every other process that opens it for writing until the worker dies: a red team's, session 15) and
# directory notifications. Record locks and flock stay allowed: advisory, and Triton and torch take them.
FCNTL = "fcntl", (72, 25)
REFUSED_FCNTLS = {"F_SETLEASE": 1024, "F_NOTIFY": 1026}
# Allowed on the calling process itself (first argument 0), refused on any other: limits and CPU affinity of
# another process (a limit on the evaluating process could kill it).
SELF_ONLY = {"prlimit64": (302, 261), "sched_setaffinity": (203, 122)}
_ARCHES = {"x86_64": (0xC000003E, 0, 317), "amd64": (0xC000003E, 0, 317), "aarch64": (0xC00000B7, 1, 277),
           "arm64": (0xC00000B7, 1, 277)}


def _program(audit_arch, column):
    """The filter as classic BPF: (bytes, instruction count). Built from labelled instructions: ("ld", offset),
    ("jeq"/"jge", k, label if true, label if false; None: the next one), ("ret", value), ("at", label)."""
    refused = sorted({nums[column] for nums in CALLS.values() if nums[column] is not None})
    pretended = sorted({nums[column] for nums in PRETENDED.values() if nums[column] is not None})
    own = sorted({nums[column] for nums in SELF_ONLY.values() if nums[column] is not None})
    by_command = [(name, call[1][column], sorted(set(commands.values())))
                  for name, call, commands in (("ioctl", IOCTL, REFUSED_IOCTLS), ("fcntl", FCNTL, REFUSED_FCNTLS))]
    code = [("ld", 4),                                      # the architecture
            ("jeq", audit_arch, None, "deny"),              # another (32-bit calls through int 0x80): refused
            ("ld", 0),                                      # the call's number
            ("jge", 0x40000000, "deny", None)]              # x32 calls on x86-64: refused wholesale
    code += [("jeq", nr, "deny", None) for nr in refused]
    code += [("jeq", nr, "pretend", None) for nr in pretended]
    code += [("jeq", nr, "self", None) for nr in own]
    code += [("jeq", nr, name, None) for name, nr, _ in by_command]
    code += [("ret", _RET_ALLOW),
             ("at", "self"), ("ld", 16),                    # the first argument's low word (a pid)
             ("jeq", 0, None, "deny"), ("ret", _RET_ALLOW)]  # 0: this process; another: refused
    for name, _, commands in by_command:                    # the second argument's low word (the command)
        code += [("at", name), ("ld", 24)] + [("jeq", cmd, "deny", None) for cmd in commands] + [("ret", _RET_ALLOW)]
    code += [("at", "deny"), ("ret", _RET_ERRNO | _EPERM), ("at", "pretend"), ("ret", _RET_ERRNO | 0)]
    labels, insns = {}, [c for c in code if c[0] != "at"]
    k = 0
    for c in code:
        if c[0] == "at":
            labels[c[1]] = k
        else:
            k += 1
    out = []
    for pc, c in enumerate(insns):
        if c[0] == "ld":
            out.append((_LD_ABS_W, 0, 0, c[1]))
        elif c[0] == "ret":
            out.append((_RET_K, 0, 0, c[1]))
        else:
            jump = [0 if target is None else labels[target] - pc - 1 for target in c[2:]]
            assert all(0 <= j < 256 for j in jump), "a jump beyond classic BPF's reach"
            out.append((_JEQ_K if c[0] == "jeq" else _JGE_K, jump[0], jump[1], c[1]))
    return b"".join(struct.pack("HBBI", *i) for i in out), len(out)


def drop_capabilities() -> str | None:
    """Give up every capability (a root worker keeps its uid, not root's powers: no network administration, no
    device nodes, no raw I/O); None when done, else why not."""
    if not os.sys.platform.startswith("linux"):
        return "not Linux: capabilities kept"
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly for caps that do not exist)
    libc.prctl(47, 4, 0, 0, 0)        # PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL

    class _Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class _Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = _Header(0x20080522, 0), (_Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    if libc.capset(ctypes.byref(header), data):
        return f"capset refused ({os.strerror(ctypes.get_errno())}): capabilities kept"
    return None


def refuse_metadata_and_admin_calls() -> str | None:
    """Install the filter on every thread of this process; None when in force, else one line saying why not."""
    arch = _ARCHES.get(platform.machine().lower())
    if arch is None or not os.sys.platform.startswith("linux"):
        return f"no seccomp filter for {platform.machine()}: chmod/chown/utime/setxattr are not refused"
    audit_arch, column, seccomp_nr = arch
    code, count = _program(audit_arch, column)
    buf = ctypes.create_string_buffer(code, len(code))

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = _Prog(count, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
        return f"no_new_privs refused ({os.strerror(ctypes.get_errno())}): no seccomp filter"
    if libc.syscall(seccomp_nr, _SET_MODE_FILTER, _FLAG_TSYNC, ctypes.byref(prog)) == 0:
        return None
    if libc.prctl(_PR_SET_SECCOMP, _MODE_FILTER, ctypes.byref(prog), 0, 0) == 0:  # this thread only (old kernels)
        return None
    return f"seccomp filter refused ({os.strerror(ctypes.get_errno())}): chmod/chown/utime/setxattr are not refused"
