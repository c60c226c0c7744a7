"""Run a Jupyter kernel inside bubblewrap.

The kernel of a submission runs in ``bwrap`` with no network, a private ``/tmp``, read-only
access to the Python installation only, one writable working directory (the scratch copy of
the submission) with the trusted ``lib`` mounted read-only over its ``lib/``, and resource
limits (address space, processes, CPU time) set just before ``ipykernel`` starts.

The grader reaches the kernel over jupyter_client's ``ipc`` transport: unix sockets in a
small directory bind-mounted into the sandbox, which work across ``--unshare-net``.

When the grader runs as root, the kernel runs as ``nobody``: root ignores ``RLIMIT_NPROC``,
and student code has no business being root. Mount sources are passed to ``bwrap`` as
open file descriptors so that ``nobody`` need not be able to traverse their parents
(a Python under ``/root/.pyenv``, a scratch dir under a private ``/tmp/...``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Instance

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
    """Path of a working ``bwrap``, or None."""
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


# Run inside the sandbox before ipykernel: set the limits, then exec the kernel command.
_LIMITER = """\
import os, resource, sys
mem, cpu, nproc, fsize, uid = (int(v) for v in sys.argv[1:6])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if os.getuid() != uid:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
os.execv(sys.argv[6], sys.argv[6:])
"""


@dataclass
class SandboxSpec:
    """What one sandboxed kernel may see."""

    workdir: Path  # writable; the kernel's cwd
    lib: Path | None = None  # trusted lib, mounted read-only on workdir/lib
    runtime_dir: Path | None = None  # ipc sockets + connection file (writable)
    limits: Limits = field(default_factory=Limits)
    bwrap: str = "bwrap"
    log_path: Path | None = None  # the kernel's stdout and stderr (outside the sandbox)


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


def build_command(spec: SandboxSpec, kernel_cmd: list[str]) -> list[str]:
    """The bwrap command that runs ``kernel_cmd`` as ``sandbox_uid()`` in the sandbox."""
    uid = os.geteuid()
    cmd = [spec.bwrap, *_namespace_args(uid)]
    binds: list[tuple[str, str]] = []  # (option, path), mounted at the same path
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            binds.append(("--ro-bind", str(path)))
    binds += [("--ro-bind", root) for root in _readonly_roots() if os.path.isdir(root)]
    binds += [
        ("--ro-bind", str(Path("/etc") / name))
        for name in ETC_FILES
        if (Path("/etc") / name).exists()
    ]
    workdir = str(spec.workdir)
    binds.append(("--bind", workdir))
    if spec.runtime_dir is not None:
        binds.append(("--bind", str(spec.runtime_dir)))
    # parents of mount points are made traversable (a Python under /root/.pyenv, say)
    # a private /tmp first: scratch dirs under /tmp are mounted over it
    cmd += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(spec.limits.tmp_size),
        "--tmpfs",
        "/tmp",
    ]
    parents = sorted({str(p) for _, path in binds for p in Path(path).parents} - {"/"}, key=len)
    for parent in parents:
        cmd += ["--perms", "0755", "--dir", parent]
    for option, path in binds:
        cmd += [option, path, path]
    if spec.lib is not None:
        (spec.workdir / "lib").mkdir(exist_ok=True)
        cmd += ["--ro-bind", str(spec.lib), f"{workdir}/lib"]
    env = {
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
    }
    cmd += ["--clearenv"]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    cmd += ["--chdir", workdir]
    lim = spec.limits
    kuid = sandbox_uid()
    nproc = _user_process_count(kuid) + lim.nproc_allowance
    cmd += [
        "--",
        kernel_cmd[0],
        "-I",
        "-c",
        _LIMITER,
        str(lim.memory),
        str(lim.cpu_seconds),
        str(nproc),
        str(lim.file_size),
        str(kuid),
        *kernel_cmd,
    ]
    return cmd


def sandbox_uid() -> int:
    """The user the kernel runs as: the grader's own, or nobody if the grader is root."""
    uid = os.geteuid()
    return NOBODY if uid == 0 else uid


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel runs in bubblewrap, reached over ``ipc``.

    ``sandbox_spec`` must be set before the kernel starts. The connection file and the
    sockets live in ``spec.runtime_dir`` (created if None).
    """

    sandbox_spec = Instance(SandboxSpec, allow_none=True)

    def __init__(self, **kwargs):
        spec = kwargs.get("sandbox_spec") or _DEFAULT_SPEC.get("spec")
        if spec is not None and spec.runtime_dir is None:
            spec.runtime_dir = Path(tempfile.mkdtemp(prefix="cgk-"))
        kwargs["sandbox_spec"] = spec
        kwargs["transport"] = "ipc"
        if spec is not None:
            kwargs.setdefault("ip", str(spec.runtime_dir / "k"))
            kwargs.setdefault("connection_file", str(spec.runtime_dir / "kernel.json"))
        super().__init__(**kwargs)

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        # bwrap does not forward SIGINT; ask the kernel to interrupt itself instead
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and os.path.basename(cmd[0]).startswith("python") and not os.path.isabs(cmd[0]):
            cmd[0] = sys.executable
        return cmd

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        spec = self.sandbox_spec
        if spec is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        if os.geteuid() == 0:
            for path in (spec.workdir, spec.runtime_dir):
                _chown_tree(path, NOBODY)
            os.chmod(self.connection_file, 0o644)
        cmd = build_command(spec, list(kernel_cmd))
        kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # bwrap sets the rest
        if spec.log_path is not None:
            log = open(spec.log_path, "ab")  # noqa: SIM115 - the child keeps it
            kw["stdout"] = kw["stderr"] = log
        return await super()._async_launch_kernel(cmd, **kw)


def _chown_tree(path: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for name in filenames + dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chown(full, uid, uid)


# The spec for kernel managers created by nbclient, which passes only its own kwargs.
_DEFAULT_SPEC: dict[str, SandboxSpec] = {}


def set_default_spec(spec: SandboxSpec | None) -> None:
    if spec is None:
        _DEFAULT_SPEC.pop("spec", None)
    else:
        _DEFAULT_SPEC["spec"] = spec
