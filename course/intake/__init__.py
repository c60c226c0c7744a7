"""A submission as untrusted input: reading its files (``files``), carrying them to a worker
(``pack``), checking it before grading (``submission``, ``scan``), and the job and result
records (``job``)."""
