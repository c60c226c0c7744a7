"""Landlock: what a sandboxed process may still write, applied to itself before it execs the
kernel (Linux >= 5.13 with Landlock enabled; see landlock(7)).

This file is also run from source inside the sandbox, ahead of the limiter
(:func:`course.isolation.confine.limiter_source`): standard library only, no imports of the
package. :func:`restrict` handles every write-type access the running kernel's Landlock ABI
knows (making files, directories, sockets, FIFOs, devices and links, writing, truncating,
removing, re-parenting) and allows each path only the accesses it is given; everything else
stays readable as the mounts allow but cannot be written. Where Landlock is missing it does
nothing and says so (the mounts of the sandbox still hold).
"""

import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # x86_64 and aarch64
PR_SET_NO_NEW_PRIVS = 38
RULE_PATH_BENEATH = 1
CREATE_RULESET_VERSION = 1

WRITE_FILE = 1 << 1
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3

WRITES_V1 = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG
             | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM)
# what each rule may name ("all": every write access; "sockets": bind unix sockets and
# remove stale ones, no data; "devices": write to existing device files)
ACCESS = {"all": WRITES_V1 | REFER | TRUNCATE, "sockets": MAKE_SOCK | REMOVE_FILE,
          "devices": WRITE_FILE | TRUNCATE}


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi() -> int:
    """The Landlock ABI version of the running kernel, 0 if it has none."""
    version = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                              ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def handled(version: int) -> int:
    """The write-type accesses Landlock ABI ``version`` can restrict."""
    return WRITES_V1 | (REFER if version >= 2 else 0) | (TRUNCATE if version >= 3 else 0)


def restrict(rules: dict[str, str]) -> int:
    """Forbid this process (and what it execs or forks) every write outside ``rules``
    ({path: "all" | "sockets" | "devices"}; missing paths are skipped). Returns the ABI
    used, 0 if Landlock is unavailable (then nothing is restricted)."""
    version = abi()
    if version < 1:
        return 0
    libc = _libc()
    mask = handled(version)
    attr = ctypes.c_uint64(mask)  # struct landlock_ruleset_attr, its first field only
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(8),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        for path, kind in rules.items():
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                rule = _PathBeneath(ACCESS[kind] & mask, fd)
                if libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule),
                                ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return version
