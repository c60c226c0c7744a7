"""Print the adversarial catalogue's grades as a Markdown table (entry, points, flags).

    .venv/bin/python tests/adversarial/report.py

Builds the toy course, submits the honest student, every catalogue entry and every honest
style, grades them with ``course grade --jobs 2`` and prints what each earned; the same
run ``tests/test_integrity.py`` asserts on.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    from adversarial import catalogue, toy

    from course.grading import batch as grade

    root = toy.build_course(Path(tempfile.mkdtemp()) / "course")
    release = toy.release_notebook(root)
    toy.submit(root, "honest", toy.solved(root))
    entries = catalogue.ENTRIES + catalogue.HONEST
    for entry in entries:
        nb, files = catalogue.build(entry, release, root)
        folder = toy.submit(root, entry.name, nb, files=files)
        if entry.post:
            entry.post(folder, root)
    rows = {r["student"]: r for r in grade.grade(root, ["toy"], jobs=2, progress=False)}
    print("| entry | autograded score (of 4) | flag |\n|---|---|---|")
    for name in ["honest"] + [e.name for e in entries]:
        row = rows[name]
        auto = sum(v[0] for k, v in row["tests"].items() if k.startswith("test_"))
        print(f"| {name} | {auto:g} | {row['flags'][:110] or '-'} |")


if __name__ == "__main__":
    main()
