"""What bounds a sandboxed process's writes, beside the mounts of :mod:`.sandbox`.

* **The limiter** (:func:`limiter_source`), run inside the sandbox before the kernel: sets
  the resource limits, applies :mod:`.landlock` (writes only in the size-limited tmpfs
  mounts, device files, and unix sockets in the runtime folder), becomes the sandbox's
  user and execs the kernel.
* **The runtime folder** (the ``ipc`` sockets) is on the host's disk, so it is mounted at
  :data:`RUNTIME_MOUNT` inside the sandbox, outside the writable ``/tmp``; the kernel is
  given a copy of its connection file naming that path (:func:`sandbox_connection_file`).
  As root the folder is root's: writable for the kernel only until its sockets are bound
  (:func:`lock_when_bound`), then read-only, with or without Landlock.
* **The kernel's stdout and stderr** go through a pipe; the grader keeps the first
  :data:`LOG_LIMIT` bytes in the log and drops the rest (:func:`bounded_log`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

RUNTIME_MOUNT = "/run/kernel"  # the runtime folder inside the sandbox
SANDBOX_CONNECTION = "sandbox.json"  # the kernel's connection file, naming RUNTIME_MOUNT
LOG_LIMIT = 4 * 1024**2  # bytes of a kernel's stdout and stderr kept on the host
BIND_TIMEOUT = 60  # seconds the kernel has to bind its sockets (nbclient's startup_timeout)

_LIMITER = """
import json, resource, sys
mem, cpu, nproc, fsize, uid = (int(v) for v in sys.argv[1:6])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if not restrict(json.loads(sys.argv[6])):
    sys.stderr.write("course sandbox: no Landlock in this kernel; the mounts alone hold\\n")
if os.getuid() != uid:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
os.execv(sys.argv[7], sys.argv[7:])
"""


@functools.cache
def limiter_source() -> str:
    """Run inside the sandbox as ``python -I -c``: isolation/landlock.py, then the limiter,
    whose arguments are :func:`limiter_args` followed by the kernel's command."""
    return (HERE / "landlock.py").read_text() + _LIMITER


def limiter_args(*, memory: int, cpu: int, nproc: int, file_size: int, uid: int,
                 writable: list[str], runtime: bool) -> list[str]:
    """The limiter's arguments: limits, the user to become, and the Landlock rules (all
    writes in ``writable``, which must be size-limited tmpfs mounts; data into existing
    device files under /dev; sockets only in the runtime folder)."""
    rules = {"/dev": "devices", **{path: "all" for path in writable}}
    if runtime:
        rules[RUNTIME_MOUNT] = "sockets"
    return [str(memory), str(cpu), str(nproc), str(file_size), str(uid), json.dumps(rules)]


def sandbox_connection_file(cmd: list[str], connection_file: str, runtime_dir: Path,
                            ip: str) -> list[str]:
    """Write the kernel's copy of ``connection_file`` (its sockets under RUNTIME_MOUNT) into
    ``runtime_dir`` and return ``cmd`` naming that copy instead."""
    info = json.loads(Path(connection_file).read_text())
    info["ip"] = f"{RUNTIME_MOUNT}/{os.path.relpath(ip, runtime_dir)}"
    inner = runtime_dir / SANDBOX_CONNECTION
    inner.write_text(json.dumps(info, indent=1))
    for path in (connection_file, inner):
        os.chmod(path, 0o644)
    inside = f"{RUNTIME_MOUNT}/{SANDBOX_CONNECTION}"
    return [inside if arg == connection_file else arg for arg in cmd]


def open_runtime_dir(runtime_dir: Path) -> None:
    """As root: the runtime folder stays root's, writable by the kernel's user (sticky:
    not the connection files) until :func:`lock_when_bound`."""
    os.chown(runtime_dir, 0, 0)
    os.chmod(runtime_dir, 0o1777)


async def lock_when_bound(process, sockets: list[str], runtime_dir: Path) -> None:
    """As root: once the kernel has bound ``sockets`` (or exited, or BIND_TIMEOUT passed),
    make ``runtime_dir`` read-only for it. No student code runs before the kernel listens,
    so whatever it ever writes there is these sockets."""
    deadline = time.monotonic() + BIND_TIMEOUT
    while (time.monotonic() < deadline and process.poll() is None
           and not all(os.path.exists(s) for s in sockets)):
        await asyncio.sleep(0.02)
    os.chmod(runtime_dir, 0o755)


def bounded_log(path: Path, limit: int = LOG_LIMIT) -> int:
    """A pipe's write end for a kernel's stdout and stderr: the first ``limit`` bytes go to
    ``path``, the rest is read and dropped (a kernel cannot fill the grader's disk through
    its output). The caller closes the returned descriptor once the kernel has it."""
    read_end, write_end = os.pipe()
    threading.Thread(target=_copy, args=(read_end, path, limit), daemon=True,
                     name="kernel-log").start()
    return write_end


def _copy(read_end: int, path: Path, limit: int) -> None:
    kept = 0
    with open(path, "ab") as log, os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(1 << 16):
            if kept < limit:
                log.write(chunk[: limit - kept])
                if kept + len(chunk) > limit:
                    log.write(b"\n[course: kernel output over the log's limit dropped]\n")
                log.flush()
                kept += len(chunk)
