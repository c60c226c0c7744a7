"""Run a Jupyter kernel (or the trusted runner) inside bubblewrap (:func:`build_command`).

* **Namespaces**: no network; its own PID, IPC and UTS namespaces (``--unshare-all``, with a
  user namespace, unless the grader is root: below); ``--die-with-parent``, ``--new-session``.
* **Files**: read-only binds at their own paths of ``/usr``, the top-level ``/bin``, ``/lib``...
  (or their symlinks), the Python installation and a few files of ``/etc`` (:data:`ETC_FILES`);
  ``/proc``, a minimal ``/dev`` and a private ``/tmp`` (a tmpfs). The parents of the mount
  points are made as empty 0755 directories (a Python under ``/root/.pyenv`` is reachable,
  nothing else of ``/root``). Sources go to ``bwrap`` as paths, not file descriptors.
* **Writable**: only size-limited tmpfs mounts (a kernel that fills one gets ENOSPC and
  fills no disk): the working directory (over the scratch path, with the trusted ``lib``
  bound read-only on its ``lib/``), ``/tmp`` and ``/dev/shm``; ``/`` and ``/dev`` are
  remounted read-only. ``runtime_dir`` (host disk: the ``ipc`` sockets, unix sockets that
  work across ``--unshare-net``, and the connection files) is at ``confine.RUNTIME_MOUNT``,
  where :mod:`.landlock` lets the kernel bind sockets and write nothing (:mod:`.confine`).
* **Environment** cleared, then :func:`_environment`. **Limits**: the limiter
  (``confine.limiter_source``), run in the sandbox, sets RLIMIT_AS, _CPU, _NPROC (the user's
  processes now plus NPROC_ALLOWANCE), _FSIZE and no core files, applies Landlock, becomes
  the user asked for, and execs the kernel.

A grader that is not root runs the kernel as itself. As root, no user namespace (one made by
root maps only root, which RLIMIT_NPROC does not limit): the kernel becomes ``SandboxSpec.uid``,
a uid without an account leased per sandboxed process (:class:`UidLease`: a fork bomb exhausts
no other kernel's budget), else ``nobody`` (:func:`sandbox_uid`), owner of its directories.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Instance

from course.isolation import confine

NOBODY = 65534
# processes allowed to the sandbox's user beyond what it already runs (fork bombs stop here)
NPROC_ALLOWANCE = 256
# files the dynamic loader, fontconfig and Python may want from /etc
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "fonts",
    "mime.types",
    "nsswitch.conf",
    "passwd",
    "group",
)


def bwrap_path() -> str | None:
    """Path of a working ``bwrap``, or None.

    ``COURSE_NO_BWRAP=1`` makes it None, as on a machine without bubblewrap (the tests use it
    to check that grading still works there, unsandboxed and flagged).
    """
    if os.environ.get("COURSE_NO_BWRAP", "") not in ("", "0"):
        return None
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [
                path,
                *_namespace_args(os.geteuid()),
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "true",
            ],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


def _namespace_args(uid: int) -> list[str]:
    common = ["--die-with-parent", "--new-session"]
    if uid != 0:
        return ["--unshare-all", *common]
    # As root, no user namespace: the limiter below must be able to become nobody (a user
    # namespace made by root maps only root, and root is exempt from RLIMIT_NPROC).
    unshare = [
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    return [*unshare, *common]


def _user_process_count(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


@dataclass
class Limits:
    """Resource limits of one kernel."""

    memory: int = 2 * 1024**3  # bytes of address space per process
    cpu_seconds: int = 600  # CPU time per process, a backstop to the wall-clock timeouts
    nproc_allowance: int = NPROC_ALLOWANCE
    file_size: int = 256 * 1024**2  # largest file the kernel may write
    tmp_size: int = 256 * 1024**2  # size of the private /tmp
    work_size: int = 256 * 1024**2  # size of the working directory (a tmpfs of its own)
    shm_size: int = 64 * 1024**2  # size of /dev/shm (POSIX shared memory, semaphores)


@dataclass
class SandboxSpec:
    """What one sandboxed kernel may see."""

    workdir: Path  # writable; the kernel's cwd
    lib: Path | None = None  # trusted lib, mounted read-only on workdir/lib
    runtime_dir: Path | None = None  # ipc sockets + connection files (sockets only)
    limits: Limits = field(default_factory=Limits)
    bwrap: str = "bwrap"
    log_path: Path | None = None  # the kernel's stdout and stderr (outside the sandbox)
    uid: int | None = None  # user to run as (root only); default sandbox_uid()
    ro_binds: list[tuple[str, str]] = field(default_factory=list)  # (source, destination)


def _readonly_roots() -> list[str]:
    """Directories of the Python installation the kernel needs, outermost first."""
    roots = {"/usr"}
    for prefix in (sys.base_prefix, sys.prefix, sys.exec_prefix, sys.base_exec_prefix):
        roots.add(os.path.realpath(prefix))
    # drop roots nested in others
    ordered = sorted(roots, key=len)
    kept: list[str] = []
    for r in ordered:
        if not any(r == k or r.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(r)
    return kept


def _system_mounts() -> tuple[list[str], list[tuple[str, str]]]:
    """The system folders a kernel reads: (bwrap's --symlink options for top-level links
    such as /lib -> usr/lib, [(option, path)] read-only binds at the same path)."""
    links: list[str] = []
    binds: list[tuple[str, str]] = []
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            links += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            binds.append(("--ro-bind", str(path)))
    binds += [("--ro-bind", root) for root in _readonly_roots() if os.path.isdir(root)]
    binds += [("--ro-bind", str(Path("/etc") / name)) for name in ETC_FILES
              if (Path("/etc") / name).exists()]
    return links, binds


def _environment() -> dict[str, str]:
    """The kernel's whole environment (bwrap --clearenv drops the grader's)."""
    return {
        "PATH": os.path.dirname(sys.executable) + ":/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # what nbgrader sets while it executes; lib.explorers then draws static figures
        "NBGRADER_EXECUTION": "autograde",
        "COURSE_STATIC_PLOTS": "1",
    }


def build_command(spec: SandboxSpec, kernel_cmd: list[str]) -> list[str]:
    """The bwrap command that runs ``kernel_cmd`` as ``sandbox_uid()`` in the sandbox."""
    uid = os.geteuid()
    cmd = [spec.bwrap, *_namespace_args(uid)]
    links, binds = _system_mounts()
    cmd += links
    workdir = str(spec.workdir)
    # parents of mount points are made traversable (a Python under /root/.pyenv, say)
    # a private /tmp first: scratch dirs under /tmp are mounted over it
    cmd += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *["--perms", "1777", "--size", str(spec.limits.shm_size), "--tmpfs", "/dev/shm"],
        *["--perms", "1777", "--size", str(spec.limits.tmp_size), "--tmpfs", "/tmp"],
    ]
    runtime = [] if spec.runtime_dir is None else [confine.RUNTIME_MOUNT]
    dests = [path for _, path in binds] + [dest for _, dest in spec.ro_binds] + [workdir]
    dests += runtime
    parents = sorted({str(p) for path in dests for p in Path(path).parents} - {"/"}, key=len)
    for parent in parents:
        cmd += ["--perms", "0755", "--dir", parent]
    for option, path in binds:
        cmd += [option, path, path]
    # the working directory is a tmpfs of its own size: a kernel that fills it gets ENOSPC
    # and fills no disk (nothing in it is ever read back)
    cmd += ["--perms", "1777", "--size", str(spec.limits.work_size), "--tmpfs", workdir]
    if spec.lib is not None:
        cmd += ["--perms", "0755", "--dir", f"{workdir}/lib",
                "--ro-bind", str(spec.lib), f"{workdir}/lib"]
    for source, dest in spec.ro_binds:
        cmd += ["--ro-bind", source, dest]
    if runtime:
        cmd += ["--bind", str(spec.runtime_dir), confine.RUNTIME_MOUNT]
    # no file in the sandbox's root or /dev tmpfs (neither has a size limit)
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for key, value in _environment().items():
        cmd += ["--setenv", key, value]
    cmd += ["--chdir", workdir]
    lim = spec.limits
    kuid = sandbox_uid() if spec.uid is None else spec.uid
    nproc = _user_process_count(kuid) + lim.nproc_allowance
    limiter = confine.limiter_args(
        memory=lim.memory, cpu=lim.cpu_seconds, nproc=nproc, file_size=lim.file_size,
        uid=kuid, writable=[workdir, "/tmp", "/dev/shm"], runtime=bool(runtime))
    cmd += ["--", kernel_cmd[0], "-I", "-c", confine.limiter_source(), *limiter, *kernel_cmd]
    return cmd


def sandbox_uid() -> int:
    """The user the kernel runs as: the grader's own, or nobody if the grader is root."""
    uid = os.geteuid()
    return NOBODY if uid == 0 else uid


class SandboxProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, launching the kernel inside bubblewrap.

    Registered as the ``course-sandbox`` kernel provisioner (pyproject.toml entry point) and
    selected by :class:`SandboxedKernelManager`'s kernel spec. The sandbox is its kernel
    manager's ``sandbox_spec``.
    """

    async def launch_kernel(self, cmd, **kwargs):
        spec = getattr(self.parent, "sandbox_spec", None)
        if spec is None:
            raise RuntimeError("course-sandbox provisioner without a sandbox_spec")
        uid = sandbox_uid() if spec.uid is None else spec.uid
        root = os.geteuid() == 0
        if root:
            _chown_tree(spec.workdir, uid)
            confine.open_runtime_dir(spec.runtime_dir)
        if spec.lib is not None:
            (spec.workdir / "lib").mkdir(exist_ok=True)
        km = self.parent
        cmd = confine.sandbox_connection_file(list(cmd), km.connection_file, spec.runtime_dir,
                                              km.ip)
        cmd = build_command(spec, cmd)
        kwargs["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # bwrap sets the rest
        kwargs.pop("cwd", None)  # bwrap --chdir
        log = None if spec.log_path is None else confine.bounded_log(spec.log_path)
        if log is not None:
            kwargs["stdout"] = kwargs["stderr"] = log
        try:
            info = await super().launch_kernel(cmd, **kwargs)
        finally:
            if log is not None:
                os.close(log)
        if root:
            ports = (km.shell_port, km.iopub_port, km.stdin_port, km.hb_port, km.control_port)
            await confine.lock_when_bound(self.process, [f"{km.ip}-{p}" for p in ports],
                                          spec.runtime_dir)
        return info


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in bubblewrap (:class:`SandboxProvisioner`),
    reached over ``ipc`` sockets in ``spec.runtime_dir``."""

    sandbox_spec = Instance(SandboxSpec, allow_none=True)

    def __init__(self, **kwargs):
        spec = kwargs.get("sandbox_spec")
        made = None  # a runtime folder of its own, removed when the kernel is shut down
        if spec is not None and spec.runtime_dir is None:
            spec.runtime_dir = made = Path(tempfile.mkdtemp(prefix="cgk-"))
        kwargs["transport"] = "ipc"
        if spec is not None:
            kwargs.setdefault("ip", str(spec.runtime_dir / "k"))
            kwargs.setdefault("connection_file", str(spec.runtime_dir / "kernel.json"))
        super().__init__(**kwargs)
        self._made_runtime_dir = made

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._made_runtime_dir is not None:
            shutil.rmtree(self._made_runtime_dir, ignore_errors=True)
            self._made_runtime_dir = None

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            # bwrap does not forward SIGINT; ask the kernel to interrupt itself instead
            spec.interrupt_mode = "message"
            spec.metadata["kernel_provisioner"] = {"provisioner_name": "course-sandbox",
                                                   "config": {}}
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and os.path.basename(cmd[0]).startswith("python") and not os.path.isabs(cmd[0]):
            cmd[0] = sys.executable
        return cmd


def _chown_tree(path: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for name in filenames + dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chown(full, uid, uid)


# -- a user of its own for every sandboxed process -------------------------------------------
#
# RLIMIT_NPROC counts the processes of a *user*: kernels that share a user share one budget,
# and one submission that exhausts it starves every kernel started meanwhile. As root, each
# sandboxed process (a student's kernel, a trusted runner) gets a uid no one else has. A uid
# is leased by holding an flock on its file in UID_LOCKS (released when the process holding
# it exits, even by SIGKILL) and is skipped while any process still runs as it.

UID_BASE = 1_500_000_000
UID_COUNT = 4096
# One folder per machine, whatever a grader's TMPDIR: graders leasing in different folders
UID_LOCKS = Path("/tmp/course-sandbox-uids")  # could give two kernels the same uid


class UidLease:
    """``n`` uids leased for the lifetime of this object (until :meth:`release`)."""

    def __init__(self, n: int):
        UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
        busy = _uids_in_use()
        self.uids: list[int] = []
        self._files = []
        start = (os.getpid() * 7) % UID_COUNT
        for i in range(UID_COUNT):
            uid = UID_BASE + (start + i) % UID_COUNT
            if uid in busy:
                continue
            f = open(UID_LOCKS / str(uid), "a")  # held while leased
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            self.uids.append(uid)
            self._files.append(f)
            if len(self.uids) == n:
                return
        self.release()
        raise RuntimeError(f"no free sandbox uid in {UID_BASE}..{UID_BASE + UID_COUNT - 1}")

    def release(self) -> None:
        for f in self._files:
            f.close()
        self._files = []


def _uids_in_use() -> set[int]:
    uids = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                uids.add(entry.stat().st_uid)
            except OSError:
                pass
    return uids
