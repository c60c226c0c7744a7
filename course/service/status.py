"""What ``course status`` shows: the queue by state, what is grading and for how long, the
latest graded, the time from arrival to released feedback; and the service's heartbeat file
(``serve.json``) by which it says it runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from course.grading.lock import service_running
from course.service.queue import State, read_queue
from course.service.space import MIN_FREE

STATUS_FILE = "serve.json"
STATUS_SIZE = 8192  # bytes: serve.json is padded to this, so that it can be rewritten in place


def write_status(root: Path, status: dict) -> None:
    """Replace ``serve.json`` (the heartbeat) with ``status``; on a full disk, where a new
    file cannot be written, overwrite the old one in place (it is padded with blanks to
    STATUS_SIZE bytes, so the same blocks hold it); if even that fails, keep the old one."""
    text = json.dumps(status, indent=1)
    data = (text + " " * max(0, STATUS_SIZE - len(text) - 1) + "\n").encode()
    tmp, target = root / f".{STATUS_FILE}.tmp", root / STATUS_FILE
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
    with contextlib.suppress(OSError):
        if target.stat().st_size >= len(data):
            with open(target, "r+b") as fh:
                fh.write(data)
                fh.truncate(len(data))


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError, OverflowError) as err:
        return isinstance(err, PermissionError)
    return True


def status(root: Path) -> dict:
    """The queue of the course at ``root``: counts by state, the rows, and whether a
    service is running (``running``, ``pid``, ``heartbeat`` seconds ago, ``workers``)."""
    root = Path(root).resolve()
    entries = read_queue(root / "gradebook.db")
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.state] = counts.get(e.state, 0) + 1
    info = {}
    with contextlib.suppress(OSError, ValueError):
        info = json.loads((root / STATUS_FILE).read_text())
    is_running = service_running(root)
    # serve.json may still be the previous service's (a new one writes it first thing)
    current = is_running and not info.get("stopped") and _alive(info.get("pid"))
    latencies = [e.released - e.arrived for e in entries if e.released]
    free = None
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(root).free
    return {
        "free": free,
        "running": is_running,
        "pid": info.get("pid") if current else None,
        "heartbeat": time.time() - info["heartbeat"] if current and "heartbeat" in info
        else None,
        "workers": info.get("workers") if current else None,
        "graded_since_start": info.get("graded") if current else None,
        "disk_full": info.get("disk_full") if current else None,
        "disk_full_since": info.get("disk_full_since") if current else None,
        "counts": counts,
        "entries": entries,
        "latency_median": statistics.median(latencies) if latencies else None,
        "latency_max": max(latencies) if latencies else None,
    }


def wait_running(root: Path, proc, timeout: float = 120) -> dict:
    """Wait until ``proc`` (the Popen of a ``course serve`` of ``root``) has started grading;
    its status (serve.json). RuntimeError if it exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"course serve exited with status {proc.returncode}")
        with contextlib.suppress(OSError, ValueError):
            info = json.loads((Path(root) / STATUS_FILE).read_text())
            if info.get("pid") == proc.pid and not info.get("stopped"):
                return info
        time.sleep(0.1)
    raise RuntimeError(f"course serve did not start within {timeout:.0f} s")


def _when(epoch: float | None) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S") if epoch else "-"


def format_status(info: dict, *, limit: int = 15) -> str:
    lines = []
    if info["running"] and info["pid"] is None:
        lines.append("course serve: starting (it holds the lock; no heartbeat yet)")
    elif info["running"]:
        beat = f", heartbeat {info['heartbeat']:.0f} s ago" if info["heartbeat"] else ""
        since = (f", {info['graded_since_start']} graded since it started"
                 if info.get("graded_since_start") is not None else "")
        lines.append(f"course serve: running (pid {info['pid']}, {info['workers']}{beat}"
                     f"{since})")
    else:
        lines.append("course serve: not running")
    free = info.get("free")
    if info["running"] and info["pid"] is None and free is not None and free < MIN_FREE:
        lines.append(f"disk full? {free / 1024**2:.0f} MB free under the course root: a "
                     "starting service waits for room")
    if info.get("disk_full"):
        lines.append(f"disk full since {_when(info['disk_full_since'])}: grading paused, "
                     f"resumes by itself when there is room ({info['disk_full']})")
    order = [str(s) for s in State]
    counts = info["counts"]
    lines.append("queue: " + (", ".join(f"{counts[s]} {s}" for s in order if s in counts)
                              or "empty"))
    if info["latency_median"] is not None:
        lines.append(f"feedback released {info['latency_median']:.1f} s (median), "
                     f"{info['latency_max']:.1f} s (max) after a submission arrived")
    now = time.time()
    entries = info["entries"]
    for state, title in (("grading", "grading"), ("queued", "queued"), ("failed", "failed"),
                         ("rejected", "rejected")):
        rows = [e for e in entries if e.state == state]
        if not rows:
            continue
        lines.append(f"\n{title}:")
        for e in rows[:limit]:
            retry = (f"; next attempt at {_when(e.retry_at)}"
                     if e.retry_at and e.retry_at > now else "")
            extra = {"grading": f"{now - (e.started or now):.0f} s"
                                + (f", after {e.attempts} failure(s)" if e.attempts else ""),
                     "queued": f"waiting {now - e.arrived:.0f} s" + (
                         f"; {e.note}" if e.note else "") + retry,
                     "failed": e.note + retry,
                     }.get(state, e.note)
            lines.append(f"  {e.student_id:<14} {e.assignment_id:<22} {extra}")
        if len(rows) > limit:
            lines.append(f"  ... and {len(rows) - limit} more")
    done = [e for e in entries if e.state == "done"]
    if done:
        lines.append("\nlatest graded:")
        for e in sorted(done, key=lambda e: e.released or 0)[-limit:]:
            score = f"{e.score:g}/{e.max_score:g}" if e.score is not None else "-"
            what = "counts" if e.counted else (e.note or "not counted")
            late = " late" if e.late else ""
            flags = f"  flags: {e.flags}" if e.flags else ""
            lines.append(f"  {_when(e.released)} {e.student_id:<14} {e.assignment_id:<22} "
                         f"{score:>7}{late} {what} ({e.released - e.arrived:.0f} s){flags}")
    return "\n".join(lines)
