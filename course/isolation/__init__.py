"""Running untrusted code: the bubblewrap sandbox and the kernel provisioner (``sandbox``),
the wire protocol between the two sides (``wire``), the trusted runner that runs the tests
(``runner``, ``runner_process``) and the agent in the student's kernel (``agent``)."""
