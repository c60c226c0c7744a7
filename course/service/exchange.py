"""nbgrader's exchange, as ``course serve`` reads and writes it.

In: ``<exchange>/<course>/inbound/<student>+<assignment>+<timestamp>+<random>/``, one folder
per ``nbgrader submit``, untrusted: :func:`open_folder` opens one (a :class:`Folder`, read
through its descriptor from then on), :func:`settled` says when nbgrader has finished
writing it, :func:`inspect_folder` whether it is a submission that can be graded and when
it counts as submitted. Out: ``<exchange>/<course>/feedback/<hash>.html``, nbgrader's own naming,
where ``nbgrader fetch_feedback`` and *Assignment List* find it (:func:`release_feedback`).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import pwd
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.utils import make_unique_key, notebook_hash, parse_utc

from course.intake.files import open_dir

# a submission that claims to be on time but reached the exchange later than this after
# the due date is treated as late (its claimed time stamp is the student's to write)
ARRIVAL_GRACE = dt.timedelta(minutes=10)
# nbgrader submit writes a folder in steps (the files, timestamp.txt, submission_secret.txt,
# then its permissions): a folder is collected once it has both files and nothing in it has
# changed for SETTLE seconds, or, without them, after INCOMPLETE seconds
SETTLE = 0.5
INCOMPLETE = 120.0


def parse_name(name: str) -> tuple[str, str, str] | None:
    """(student, assignment, time stamp) of an inbound folder named as nbgrader submit names
    it, ``<student>+<assignment>+<timestamp>+<random>``; None for any other name."""
    parts = name.rsplit("+", 3)
    return (parts[0], parts[1], parts[2]) if len(parts) >= 3 and parts[0] else None


def exchange_paths(config) -> tuple[Path, str]:
    """(the exchange's root, the course id) of a course configuration."""
    root = config.Exchange.get("root", "/usr/local/share/nbgrader/exchange")
    return Path(root), config.CourseDirectory.get("course_id", "default_course")


@dataclass
class Folder:
    """An entry ``name`` of the inbound, held open: ``fd`` is a descriptor of the folder
    itself, opened without following a link, and everything the service reads of it goes
    through that descriptor, never through its path again (which the student can point
    elsewhere meanwhile). ``fd`` is None for an entry that cannot be opened as a folder:
    ``error`` says why. ``info``: its ``fstat`` (else its ``lstat``)."""

    name: str
    info: os.stat_result
    fd: int | None = None
    error: str = ""

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def replaced(self, inbound_fd: int) -> str:
        """What the entry ``name`` of the inbound is now, if no longer this folder (a
        student's swap while it was read), else ""."""
        try:
            now = os.lstat(self.name, dir_fd=inbound_fd)
        except OSError:
            return "removed"
        if (now.st_dev, now.st_ino) == (self.info.st_dev, self.info.st_ino):
            return ""
        return "replaced by a symbolic link" if stat.S_ISLNK(now.st_mode) else "replaced"


def open_folder(inbound_fd: int, name: str) -> Folder | None:
    """The entry ``name`` of the inbound (a descriptor of it: ``inbound_fd``), opened;
    None if it is gone."""
    try:
        fd = open_dir(name, dir_fd=inbound_fd)
    except OSError as err:
        try:
            info = os.lstat(name, dir_fd=inbound_fd)
        except OSError:
            return None
        if err.errno in (errno.ENOTDIR, errno.ELOOP) or not stat.S_ISDIR(info.st_mode):
            return Folder(name, info, error="not a submission folder (a file or a link)")
        return Folder(name, info, error=f"unreadable folder ({err.strerror})")
    try:
        return Folder(name, os.fstat(fd), fd)
    except BaseException:
        os.close(fd)
        raise


def settled(folder: Folder) -> bool:
    """Whether ``nbgrader submit`` has finished writing ``folder`` (or it is no submission
    folder at all, which :func:`inspect_folder` rejects at once)."""
    parsed = parse_name(folder.name)
    now = time.time()
    if folder.fd is None:  # a link or a file; or a folder still unreadable (its permissions
        # are set last) after INCOMPLETE
        return not stat.S_ISDIR(folder.info.st_mode) or \
            now - folder.info.st_ctime > INCOMPLETE
    if parsed is None:
        return True
    try:
        parse_utc(parsed[2])
    except (ValueError, OverflowError):
        return True
    if now - folder.info.st_ctime > INCOMPLETE:
        return True
    newest = folder.info.st_ctime
    for name in ("timestamp.txt", "submission_secret.txt"):
        try:
            newest = max(newest, os.lstat(name, dir_fd=folder.fd).st_ctime)
        except OSError:
            return False
    return now - newest >= SETTLE


@dataclass
class Arrival:
    """What the inbound folder ``name`` is: a submission to grade, or why not
    (``rejected``)."""

    name: str
    student: str
    assignment: str
    arrived: float  # epoch seconds: the folder's ctime
    timestamp: str = ""  # ISO, UTC: when it counts as submitted
    rejected: str = ""
    flags: list[str] = field(default_factory=list)
    late: bool = False

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.timestamp)


def inspect_folder(folder: Folder, *, check_owner: bool,
                   duedates: dict[str, dt.datetime | None]) -> Arrival:
    """Check the inbound folder ``folder`` against nbgrader's rules (``duedates``: the
    released assignments): its owner and change time are those of the folder held open."""
    name, info = folder.name, folder.info
    parsed = parse_name(name)
    student, assignment, stamp = parsed or ("?", "?", "")
    arrival = Arrival(name, student, assignment, info.st_ctime)
    if folder.fd is None:
        arrival.rejected = folder.error
        return arrival
    if parsed is None or "/" in student:
        arrival.rejected = "not a submission folder name (student+assignment+timestamp)"
        return arrival
    try:
        claimed = parse_utc(stamp)
    except (ValueError, OverflowError):
        arrival.rejected = f"unreadable time stamp {stamp!r}"
        return arrival
    arrival.timestamp = claimed.isoformat()
    owner = _owner(info.st_uid)
    if check_owner and owner != student:
        arrival.rejected = (f"claims to be {student}'s but the folder is owned by {owner} "
                            "(ExchangeCollect.check_owner)")
    elif assignment not in duedates:
        arrival.rejected = (f"unknown assignment {assignment!r} (released: "
                            f"{', '.join(duedates) or 'none'})")
    if arrival.rejected:
        return arrival
    due = duedates[assignment]
    reached = dt.datetime.fromtimestamp(arrival.arrived, dt.UTC).replace(tzinfo=None)
    if due is not None and claimed <= due < reached - ARRIVAL_GRACE:
        arrival.flags.append(
            f"claims to be submitted at {claimed:%Y-%m-%d %H:%M:%S} UTC, before the due "
            f"date, but reached the exchange at {reached:%Y-%m-%d %H:%M:%S} UTC: graded as "
            "submitted then")
        arrival.timestamp = reached.isoformat()
    arrival.late = due is not None and arrival.when > due
    return arrival


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def release_feedback(feedback: Path, submission: Path, outbound: Path, *, course_id: str,
                     key: str, student: str, assignment: str) -> int:
    """Copy the feedback pages in ``feedback/`` of a graded ``submission`` (the service's
    copy) to ``outbound`` as nbgrader names them; return how many."""
    if not feedback.is_dir():
        return 0
    secret_file = submission / "submission_secret.txt"
    secret = secret_file.read_text() if secret_file.is_file() and not \
        secret_file.is_symlink() else None
    stamp = parse_name(key)[2]
    outbound.mkdir(mode=0o755, parents=True, exist_ok=True)
    count = 0
    for page in sorted(feedback.glob("*.html")):
        notebook_id = page.stem
        if secret:
            checksum = notebook_hash(secret=secret, notebook_id=notebook_id)
        else:
            nb = submission / f"{notebook_id}.ipynb"
            if not nb.is_file() or nb.is_symlink():
                continue
            checksum = notebook_hash(str(nb), make_unique_key(
                course_id, assignment, notebook_id, student, stamp))
        tmp = outbound / f".{checksum}.tmp"
        shutil.copyfile(page, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, outbound / f"{checksum}.html")
        count += 1
    return count
