"""The kernel provisioner's entry point before the layering (kept working for an environment
installed before it): ``course.sandbox:SandboxProvisioner`` is
:mod:`course.isolation.sandbox`'s."""

from course.isolation.sandbox import SandboxedKernelManager, SandboxProvisioner

__all__ = ["SandboxProvisioner", "SandboxedKernelManager"]
