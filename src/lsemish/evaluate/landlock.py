"""Refuse file writes outside a few folders, for this process and its children (Linux Landlock, unprivileged).

Used by the untrusted worker on itself before it imports a candidate. Reads and execution stay allowed (Python and
CUDA need the whole file system to read); writing, creating, removing, renaming and truncating files are refused
outside `writable` (and, where the kernel has the ABI for it: TCP connections, signals to processes outside the
sandbox, abstract unix sockets). Landlock also stops the sandboxed process from ptrace-ing (or reading the memory
of) any process outside it. Only the standard library: a ctypes shim over three system calls.
"""
from __future__ import annotations

import ctypes
import os

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same numbers on x86-64 and arm64
_VERSION_FLAG = 1
_PR_SET_NO_NEW_PRIVS = 38
_RULE_PATH_BENEATH = 1

WRITE_FILE, TRUNCATE = 1 << 1, 1 << 14
_TREE_WRITES = ((1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))
# remove dir/file, make char/dir/reg/sock/fifo/block/sym
_MAKE_CHAR, _MAKE_BLOCK = 1 << 6, 1 << 11
_REFER = 1 << 13
_NET_BIND, _NET_CONNECT = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI (1 and up), or 0 where it has none (old kernel, not Linux, or blocked)."""
    if not os.sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION_FLAG))
    return max(int(version), 0)


def default_device_files():
    """The existing files a worker may write besides its folders: /dev/null, the NVIDIA devices, and this process's
    own /proc entries (the CUDA driver writes them when it starts)."""
    import glob
    return ["/dev/null", "/proc/self"] + sorted(glob.glob("/dev/nvidia*"))


def restrict_writes(writable, device_files=None) -> str | None:
    """Allow writes only beneath the folders in `writable` (everything) and to existing files beneath
    `device_files` (no creation): device files, and this process's own /proc entries, which the CUDA driver writes
    when it starts. Returns None when in force, else one line saying why it is not."""
    abi = abi_version()
    if abi < 1:
        return "the kernel has no Landlock (Linux >= 5.13 with Landlock enabled): file writes are not restricted"
    libc = ctypes.CDLL(None, use_errno=True)
    device_files = default_device_files() if device_files is None else device_files
    handled = WRITE_FILE | _TREE_WRITES | (_REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    folder_rights = handled & ~(_MAKE_CHAR | _MAKE_BLOCK)  # no device nodes anywhere: they would reach /dev
    fields = [handled, (_NET_BIND | _NET_CONNECT) if abi >= 4 else 0,
              (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0]
    count = 1 if abi < 4 else (2 if abi < 6 else 3)
    attr = (ctypes.c_uint64 * count)(*fields[:count])
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock ruleset refused ({os.strerror(ctypes.get_errno())}): file writes are not restricted"
    try:
        file_rights = WRITE_FILE | (TRUNCATE if abi >= 3 else 0)
        for path, rights in [(p, folder_rights) for p in writable] + [(p, file_rights) for p in device_files]:
            if not os.path.exists(path):
                continue
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneath(rights, fd)
                if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)):
                    return f"Landlock rule for {path} refused ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return f"no_new_privs refused ({os.strerror(ctypes.get_errno())}): file writes are not restricted"
        if libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)):
            return f"Landlock restrict_self refused ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return None
