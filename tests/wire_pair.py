"""Two course.isolation.wire endpoints over a real pipe, the student's side served in a
thread, as in grading (tests/test_wire.py, tests/test_wire_lifetimes.py)."""

from __future__ import annotations

import contextlib
import threading
from multiprocessing.connection import Pipe

from course.isolation import wire


@contextlib.contextmanager
def served_pair(student_class, ns: dict):
    """(trusted endpoint, student endpoint): ``student_class(conn, ns)`` answers in a thread
    until the trusted side says done."""
    a, b = Pipe()
    student = student_class(b, ns)
    trusted = wire.Endpoint(a, "t", timeout=10)

    def serve():
        try:
            while True:
                message = student.receive()
                if message.get("op") == "done":
                    return
                student.serve_one(message)
        except wire.PeerGone:
            return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield trusted, student
    finally:
        try:
            trusted.send({"op": "done"})
        except wire.PeerGone:
            pass
        thread.join(5)


def remote(trusted, name):
    return trusted.request("lookup", name=name)
