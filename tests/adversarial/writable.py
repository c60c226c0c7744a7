"""A determined student's search for somewhere to write (issue 19, hole 2): from inside the
sandbox, walk every read-write mount of ``/proc/self/mountinfo`` and every directory in it,
create a file in each and fill it, append to every file already there, and print what held.

:func:`walker_code` is the cell; :func:`check_report` is the host's verdict on what it
printed: data may have landed only in tmpfs mounts with a size limit. The fill is capped
(``cap`` bytes per mount, ``total`` in all) so that the test stays fast; a size-limited tmpfs
smaller than the cap must have stopped it with ENOSPC.
"""

from __future__ import annotations

import inspect
import json
import os
import stat

from course.isolation.confine import RUNTIME_MOUNT, SANDBOX_CONNECTION

MARK = "WRITABLE-REPORT "

_WALKER = r'''
import errno, json, os
def _walk_and_fill(cap, total):
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fields, (fstype, _source, sopts) = pre.split(), post.split()[:3]
            point = fields[4].encode().decode("unicode_escape")
            mounts[point] = {"fstype": fstype, "opts": fields[5], "super": sopts}
    if mounts.get("/", {}).get("fstype") != "tmpfs":
        return {"refused": "not in a sandbox (its / is a tmpfs): writing nothing"}
    chunk, written, places, seen, per_mount = b"x" * (1 << 20), [0], {}, set(), {}
    def mount_of(path):
        return max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")),
                   key=len)
    def fill(fd, place, kind):
        mount, n, err = mount_of(place), 0, None
        while per_mount.get(mount, 0) < cap and written[0] < total:
            try:
                k = os.write(fd, chunk[: min(len(chunk), cap - per_mount.get(mount, 0),
                                             total - written[0])])
            except OSError as e:
                err = errno.errorcode.get(e.errno, str(e.errno))
                break
            n += k
            written[0] += k
            per_mount[mount] = per_mount.get(mount, 0) + k
        places[place] = {"kind": kind, "bytes": n, "error": err, "mount": mount,
                         "fstype": mounts[mount]["fstype"], "super": mounts[mount]["super"]}
    def attempt(path, flags, kind):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e.errno))
        try:
            fill(fd, path, kind)
        finally:
            os.close(fd)
    refused = {}
    for top, m in sorted(mounts.items()):
        if "ro" in m["opts"].split(",") or top.startswith(("/proc", "/sys")):
            continue
        try:
            dev = os.lstat(top).st_dev
        except OSError:
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            st = os.lstat(dirpath)
            if st.st_dev != dev or (st.st_dev, st.st_ino) in seen:
                dirnames[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            new = os.path.join(dirpath, ".fill-%d" % os.getpid())
            err = attempt(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, "new file")
            if err:
                refused[dirpath] = err
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and not os.path.islink(path) and path != new:
                    err = attempt(path, os.O_WRONLY | os.O_APPEND, "append")
                    if err:
                        refused[path] = err
    return {"places": places, "refused": refused, "mounts": mounts}
'''


def walker_code(cap: int = 24 * 2**20, total: int = 160 * 2**20) -> str:
    """The cell: walk, fill, print the report after MARK (one line of JSON)."""
    return (_WALKER + f"print({MARK!r} + json.dumps(_walk_and_fill({cap}, {total})))\n"
            "del _walk_and_fill\n")


def report_of(text: str, mark: str = MARK) -> dict:
    lines = [line for line in text.splitlines() if line.startswith(mark)]
    assert lines, f"the walker printed no report:\n{text[-2000:]}"
    return json.loads(lines[-1][len(mark):])


# -- what the runtime folder holds once the walker is done ------------------------------------

RUNTIME_MARK = "RUNTIME-LISTING "
CONNECTION_FILES = ("kernel.json", SANDBOX_CONNECTION)  # the host's and the kernel's copy

def _runtime_listing(top):
    """{path relative to ``top``: {"socket": is it a socket, "bytes": its size}} of everything
    under ``top``. Runs in the kernel (runtime_listing_code) and on the host (runtime_listing)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(top, onerror=print):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            found[os.path.relpath(path, top)] = {"socket": stat.S_ISSOCK(st.st_mode),
                                                 "bytes": st.st_size}
    return found


_LISTING = "import json, os, stat, time\n" + inspect.getsource(_runtime_listing)


def runtime_listing_code(folder: str = RUNTIME_MOUNT, pause: float = 0.0) -> str:
    """A cell for after the walker: list ``folder`` (the runtime folder as the kernel sees
    it, a bind mount of the grader's own folder), print it after RUNTIME_MARK, then wait
    ``pause`` seconds (time for a watcher on the host to look at the same folder)."""
    return (_LISTING + f"print({RUNTIME_MARK!r} + json.dumps(_runtime_listing({folder!r})))\n"
            f"del _runtime_listing\ntime.sleep({pause})\n")


def runtime_listing(folder) -> dict[str, dict]:
    """The same listing of ``folder``, made on the host (the grader's side of the folder), for
    :func:`check_runtime_entries`."""
    return _runtime_listing(str(folder))


def check_runtime_entries(entries: dict[str, dict]) -> None:
    """Only sockets and the two connection files (small, at the top) in a runtime folder;
    and the connection file of the kernel is there (the listing saw the folder)."""
    assert SANDBOX_CONNECTION in entries, f"the listing did not see the runtime folder: {entries}"
    bad = {rel: e for rel, e in entries.items() if not e["socket"] and not (
        rel in CONNECTION_FILES and e["bytes"] < 4096)}
    assert not bad, f"the runtime folder on the grader's disk holds data: {bad}"


def size_limited(place: dict) -> bool:
    return place["fstype"] == "tmpfs" and any(
        opt.startswith("size=") for opt in place["super"].split(","))


def check_report(report: dict, *, cap: int | None = None) -> None:
    """Data landed only in size-limited tmpfs mounts, and where ``cap`` exceeds a mount's
    size, ENOSPC stopped the fill within that size."""
    assert "places" in report, report
    bad = {path: place for path, place in report["places"].items()
           if place["bytes"] and not size_limited(place)}
    assert not bad, f"a kernel wrote where no size limit holds: {bad}"
    if cap is not None:
        for path, place in report["places"].items():
            size = next(int(o[5:-1]) * 1024 for o in place["super"].split(",")
                        if o.startswith("size=") and o.endswith("k"))
            if size < cap and place["bytes"]:
                assert place["error"] == "ENOSPC" and place["bytes"] <= size, (path, place)


def check_notebook(nb) -> None:
    """:func:`check_report` on the report a graded notebook's cells printed."""
    check_report(report_of(stream_text(nb)))


def stream_text(nb) -> str:
    """Everything a graded notebook's code cells printed."""
    return "".join(out.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for out in c.get("outputs", []) if out.get("output_type") == "stream")
