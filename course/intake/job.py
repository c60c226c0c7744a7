"""What a grading job carries into a worker (:class:`Job`) and what comes back (:class:`Result`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    root: Path
    student: str
    assignment: str
    scratch: Path
    lib: Path  # trusted student edition: release/<id>/lib
    snapshot: Path  # gradebook snapshot to copy
    trusted: dict
    course_id: str
    sandbox: bool
    memory: int


@dataclass
class Result:
    student: str
    assignment: str
    flags: list[str] = field(default_factory=list)
    error: str | None = None  # why nothing could be graded
    # the error is the grader's, not the submission's (a kernel or runner that would not
    # start, a worker that died): retried, then reported, never recorded as the student's 0.
    # Whatever the submission's cells cause is its result, never infra (threat model, 8.)
    infra: bool = False
    timestamp: str | None = None
    late_penalty: dict[str, float | None] = field(default_factory=dict)  # notebook -> penalty
    grades: dict[str, tuple[float | None, bool]] = field(default_factory=dict)
    comments: dict[str, str | None] = field(default_factory=dict)
    autograded_dir: str | None = None  # scratch dir with the autograded notebook
    feedback_dir: str | None = None
    log: str = ""
    seconds: float = 0.0
    # what the worker sends back (course.jobs): {"autograded": {name: bytes} | None,
    # "feedback": {name: bytes} | None}
    files: dict = field(default_factory=dict)
    worker: str = ""  # host:pid of the process that graded it
