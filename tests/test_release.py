"""``course release``: the committed release is current and leak-free; region stripping.

The first two groups test the repository's own release/; the others use synthetic inputs
(tests/toy_course.py), so that each check is shown to fail when it should.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from toy_course import TOY_IDS, make_toy_course

from course.author.leaks import find_leaks, secret_lines
from course.author.regions import RegionError, strip_references
from course.author.release import release
from course.author.studentlib import StudentLib
from course.config import ASSIGNMENTS
from course.errors import ReleaseError

ROOT = Path(__file__).resolve().parents[1]
KNOWN = list(ASSIGNMENTS)


def tree_differences(expected: Path, actual: Path) -> list[str]:
    """What differs between two folders, byte for byte (empty: identical)."""

    def files(folder: Path) -> set[str]:
        # bytecode caches appear whenever the release's lib is imported (git ignores them)
        return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}

    want, have = files(expected), files(actual)
    diffs = [f"missing {f}" for f in sorted(want - have)]
    diffs += [f"unexpected {f}" for f in sorted(have - want)]
    diffs += [
        f"differs {f}"
        for f in sorted(want & have)
        if (expected / f).read_bytes() != (actual / f).read_bytes()
    ]
    return diffs


# --- The committed release ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> Path:
    """Every release regenerated from source/ into a temporary folder."""
    missing = [a for a in ASSIGNMENTS if not (ROOT / "source" / a / f"{a}.ipynb").is_file()]
    if missing:
        pytest.fail(f"source notebooks missing: {', '.join(missing)}")
    out = tmp_path_factory.mktemp("release")
    release(ROOT, list(ASSIGNMENTS), release_dir=out, progress=False)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_committed_release_is_current(aid, fresh_release):
    committed = ROOT / "release" / aid
    assert committed.is_dir(), f"release/{aid} is missing: run `make release`"
    diffs = tree_differences(fresh_release / aid, committed)
    assert not diffs, (
        f"release/{aid} is stale (it is not what source/ and lib/ give now): run `make release`"
        " and commit release/.\n  " + "\n  ".join(diffs[:20])
    )


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_committed_release_leaks_nothing(aid):
    if not (ROOT / "release" / aid).is_dir():
        pytest.fail(f"release/{aid} is missing: run `make release`")
    leaks = find_leaks(ROOT, aid)
    assert not leaks, "solution or hidden-test text in the release:\n" + "\n".join(leaks[:20])


# --- Release of the toy course: reproducible, and the leak check can fail -------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = make_toy_course(tmp_path_factory.mktemp("toy"))
    release(root, TOY_IDS, progress=False)
    return root


def test_release_leaves_no_gradebook(toy):
    assert not (toy / "gradebook.db").exists()


def test_release_is_byte_for_byte_reproducible(toy, tmp_path):
    release(toy, TOY_IDS, release_dir=tmp_path, progress=False)
    for aid in TOY_IDS:
        assert tree_differences(toy / "release" / aid, tmp_path / aid) == []


def test_tree_differences_sees_a_changed_byte(toy, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(toy / "release" / TOY_IDS[0], copy)
    (copy / "lib" / "steps.py").write_bytes((copy / "lib" / "steps.py").read_bytes() + b" ")
    (copy / "extra.txt").write_text("x")
    assert tree_differences(toy / "release" / TOY_IDS[0], copy) == [
        "unexpected extra.txt",
        "differs lib/steps.py",
    ]


def test_release_replaces_solutions_and_hidden_tests(toy):
    nb = json.loads(
        (toy / "release" / "01_gradient_descent" / "01_gradient_descent.ipynb").read_text()
    )
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert "raise NotImplementedError(" in text
    assert "assert np.isclose(step(12.0, 6.0, 0.1), 11.4)" in text  # visible test kept
    assert "hidden check" not in text and "moved_weight" not in text


def test_student_lib_has_only_earlier_references(toy):
    first = (toy / "release" / "01_gradient_descent" / "lib" / "steps.py").read_text()
    second = (toy / "release" / "02_minibatch_sgd" / "lib" / "steps.py").read_text()
    assert "updated_weights" not in first and "boundary_pair" not in first
    assert "updated_weights = w - lr * np.asarray(grad)" in second  # 01 revealed in 02
    assert "boundary_pair" not in second
    assert "BEGIN REFERENCE" not in second
    assert (toy / "release" / "02_minibatch_sgd" / "lib" / "datasets" / "tiny.csv").is_file()
    readme = (toy / "release" / "02_minibatch_sgd" / "README.md").read_text()
    assert "reference answers of assignment `01_gradient_descent`. The answers of" in readme
    first_readme = (toy / "release" / "01_gradient_descent" / "README.md").read_text()
    assert "reference answers" not in first_readme  # the first assignment reveals none


def test_toy_release_has_no_leak(toy):
    for aid in TOY_IDS:
        assert find_leaks(toy, aid) == []


def test_secret_lines_cover_solutions_hidden_tests_answers_and_lib(toy):
    secrets = secret_lines(toy, "01_gradient_descent")
    assert "moved_weight_1 = w - lr * grad" in secrets  # solution of 01
    assert "return doubled_value_2" in secrets  # solution of a later assignment
    assert "assert twice(-1.5) == -3.0, 'hidden twice 1'" in secrets  # hidden test
    assert "The update overshoots the minimum further each step (1)." in secrets  # answer
    assert "boundary_pair = (start, min(start + size, n))" in secrets  # lib, withheld
    assert "return out" not in secrets  # too generic to be a secret
    assert "assert np.isclose(step(12.0, 6.0, 0.1), 11.4)" not in secrets  # visible test


def _plant(folder: Path, line: str, where: str) -> None:
    if where == "notebook":
        path = next(folder.glob("*.ipynb"))
        nb = json.loads(path.read_text())
        src = nb["cells"][0]["source"]
        nb["cells"][0]["source"] = ("".join(src) if isinstance(src, list) else src) + "\n" + line
        path.write_text(json.dumps(nb, indent=1))
    else:
        path = folder / "lib" / "steps.py"
        path.write_text(path.read_text() + f"\n# {line}\n")


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("moved_weight_1 = w - lr * grad", "notebook"),
        ("assert np.isclose(step(1.0, -2.0, 0.5), 2.0), 'hidden check 2'", "notebook"),
        ("The update overshoots the minimum further each step (1).", "notebook"),
        ("boundary_pair = (start, min(start + size, n))", "lib"),
    ],
)
def test_leak_check_finds_a_planted_line(toy, tmp_path, line, where):
    doctored = tmp_path / "release"
    shutil.copytree(toy / "release" / "01_gradient_descent", doctored / "01_gradient_descent")
    _plant(doctored / "01_gradient_descent", line, where)
    leaks = find_leaks(toy, "01_gradient_descent", release_root=doctored)
    assert len(leaks) == 1 and line in leaks[0]


def test_release_refuses_an_unknown_id(toy):
    with pytest.raises(ValueError, match="unknown assignment id"):
        release(toy, ["07_transformers"], progress=False)


def test_release_refuses_a_missing_source_notebook(toy, tmp_path):
    root = make_toy_course(tmp_path / "course")
    (root / "source" / "02_minibatch_sgd" / "02_minibatch_sgd.ipynb").unlink()
    with pytest.raises(ReleaseError, match="missing source notebook"):
        release(root, TOY_IDS, progress=False)


def test_release_refuses_a_course_root_without_lib_and_keeps_the_old_release(tmp_path):
    root = make_toy_course(tmp_path / "course")
    release(root, TOY_IDS, progress=False)
    edition = root / "release" / TOY_IDS[0] / "lib"
    before = {p: p.read_bytes() for p in edition.rglob("*.py")}
    shutil.rmtree(root / "lib")
    with pytest.raises(ReleaseError, match="lib.* is missing"):
        release(root, TOY_IDS, progress=False)
    assert {p: p.read_bytes() for p in edition.rglob("*.py")} == before


def test_release_command_fails_with_a_clear_message(toy, capsys):
    from course.cli import main

    assert main(["--root", str(toy), "release", "--quiet", "03_regularization"]) == 1
    assert "missing source notebook" in capsys.readouterr().err


# --- Stripping reference regions -----------------------------------------------------------

NESTED = '''\
class Model:
    def forward(self, x):
        """Doc."""
        out = []
        for row in x:
            if row:
                ### BEGIN REFERENCE 05_softmax
                out.append(row * 2)
                ### END REFERENCE
        return out
'''


def test_withheld_region_becomes_a_raise_at_its_indentation():
    result = strip_references(NESTED, {"05_softmax"}, KNOWN, module="lib.models")
    assert result.splitlines()[6] == (
        '                raise NotImplementedError("lib.models.Model.forward is the reference '
        'answer of assignment 05_softmax; it is not part of your edition of lib")'
    )
    assert "row * 2" not in result and "REFERENCE" not in result
    namespace: dict = {}
    exec(compile(result, "stripped", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="Model.forward .* 05_softmax"):
        namespace["Model"]().forward([1])


def test_revealed_region_keeps_its_code_without_markers():
    result = strip_references(NESTED, set(), KNOWN, module="lib.models")
    assert result == NESTED.replace("                ### BEGIN REFERENCE 05_softmax\n", "").replace(
        "                ### END REFERENCE\n", ""
    )


def test_region_at_the_end_of_a_function_and_file():
    text = (
        "def f(x):\n    y = x\n    ### BEGIN REFERENCE 01_gradient_descent\n    return y\n"
        "    ### END REFERENCE"
    )
    result = strip_references(text, {"01_gradient_descent"}, KNOWN, module="lib.m")
    assert result == (
        'def f(x):\n    y = x\n    raise NotImplementedError("lib.m.f is the '
        "reference answer of assignment 01_gradient_descent; it is not part of "
        'your edition of lib")'
    )


def test_text_outside_regions_is_kept_byte_for_byte():
    text = (
        "# é\r\ndef f():\r\n    ### BEGIN REFERENCE 02_minibatch_sgd\r\n    return 1\r\n"
        "    ### END REFERENCE\r\n\r\nX = 1  \r\n"
    )
    result = strip_references(text, {"02_minibatch_sgd"}, KNOWN)
    assert result.startswith("# é\r\ndef f():\r\n    raise NotImplementedError(")
    assert result.endswith('lib")\r\n\r\nX = 1  \r\n')
    assert strip_references("x = 1\n", KNOWN, KNOWN) == "x = 1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "def f():\n    ### BEGIN REFERENCE 09_attention\n    return 1\n    ### END REFERENCE\n",
            r"m.py:2: unknown tag '09_attention'",
        ),
        (
            "def f():\n    ### BEGIN REFERENCE 01_gradient_descent\n    return 1\n",
            r"m.py:2: BEGIN REFERENCE 01_gradient_descent has no END",
        ),
        ("def f():\n    return 1\n    ### END REFERENCE\n", r"m.py:3: END REFERENCE without"),
        (
            "def f():\n    ### BEGIN REFERENCE 01_gradient_descent\n"
            "    ### BEGIN REFERENCE 02_minibatch_sgd\n    return 1\n    ### END REFERENCE\n",
            r"m.py:3: BEGIN REFERENCE inside the region opened at line 2",
        ),
        (
            "def f():\n    ### BEGIN REFERENCE\n    return 1\n    ### END REFERENCE\n",
            r"m.py:2: malformed marker",
        ),
        (
            "### BEGIN REFERENCE 01_gradient_descent\nX = 1\n### END REFERENCE\n",
            r"m.py:1: reference region 01_gradient_descent is not inside a function",
        ),
        (
            "def f():\n    if True:\n    ### BEGIN REFERENCE 01_gradient_descent\n"
            "        return 1\n    ### END REFERENCE\n",
            r"m.py: the student edition is not valid",
        ),
    ],
)
def test_bad_regions_give_a_clear_error(text, message):
    with pytest.raises(RegionError, match=message):
        strip_references(text, set(KNOWN), KNOWN, where="m.py")


# --- Which references a release reveals -----------------------------------------------------


def student_lib(**overrides) -> StudentLib:
    return StudentLib(order=KNOWN, **overrides)


def test_by_default_a_release_withholds_its_own_and_later_references():
    assert student_lib().withheld("03_regularization") == set(KNOWN[2:])
    assert student_lib().withheld("01_gradient_descent") == set(KNOWN)


def test_reveal_and_withhold_override_course_order():
    sl = student_lib(reveal={"05_softmax": ["05_softmax"]}, withhold={"*": ["01_gradient_descent"]})
    assert sl.withheld("05_softmax") == {"06_mlp_backprop", "01_gradient_descent"}
    assert sl.withheld("02_minibatch_sgd") == set(KNOWN[1:]) | {"01_gradient_descent"}
    both = student_lib(
        reveal={"*": ["01_gradient_descent"]},
        withhold={"02_minibatch_sgd": ["01_gradient_descent"]},
    )
    assert "01_gradient_descent" in both.withheld("02_minibatch_sgd")  # withhold wins
    assert "01_gradient_descent" not in both.withheld("01_gradient_descent")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reveal": {"99_x": ["01_gradient_descent"]}}, "unknown assignment id '99_x'"),
        ({"withhold": {"*": ["99_x"]}}, "unknown tag"),
        ({"reveal": {"*": "01_gradient_descent"}}, "must be a list"),
    ],
)
def test_bad_overrides_give_a_clear_error(overrides, message):
    with pytest.raises(ReleaseError, match=message):
        student_lib(**overrides).withheld("02_minibatch_sgd")


def test_reveal_override_from_the_config_file_reaches_the_release(tmp_path):
    root = make_toy_course(tmp_path / "course")
    with open(root / "nbgrader_config.py", "a") as f:
        f.write('\nc.StudentLib.reveal = {"01_gradient_descent": ["02_minibatch_sgd"]}\n')
    release(root, ["01_gradient_descent"], progress=False)
    text = (root / "release" / "01_gradient_descent" / "lib" / "steps.py").read_text()
    assert "boundary_pair" in text and "updated_weights" not in text
    assert find_leaks(root, "01_gradient_descent") == []  # revealed on purpose: not a leak


def test_a_solution_line_in_lib_utility_code_is_a_leak(tmp_path):
    # lib code outside reference regions always ships: if it holds an exercise's answer, the
    # region markers are missing, and the release must refuse to go out.
    root = make_toy_course(tmp_path / "course")
    with open(root / "lib" / "steps.py", "a") as f:
        f.write("\n\ndef helper(x):\n    doubled_value_2 = 2 * x\n    return doubled_value_2\n")
    with pytest.raises(ReleaseError, match="(?s)leaks .*doubled_value_2 = 2 \\* x"):
        release(root, ["01_gradient_descent"], progress=False)


def test_a_withheld_lib_line_that_lib_also_ships_as_utility_is_not_a_leak(tmp_path):
    # lib's author decides what is utility: `step` may share a line with `relu_grad`.
    root = make_toy_course(tmp_path / "course")
    with open(root / "lib" / "steps.py", "a") as f:
        f.write("\n\ndef helper(w, grad):\n    updated_weights = w - lr * np.asarray(grad)\n")
    release(root, ["01_gradient_descent"], progress=False)
    assert find_leaks(root, "01_gradient_descent") == []


def _given_and_hidden(root, given: str | None, hidden: str) -> None:
    """Add to 02's source a given (public) code line and a hidden-test line; lib ships the
    hidden line as utility code."""
    path = root / "source" / "02_minibatch_sgd" / "02_minibatch_sgd.ipynb"
    nb = json.loads(path.read_text())
    tests = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
             and c["cell_type"] == "code"]
    source = "".join(tests[0]["source"])
    tests[0]["source"] = source + f"\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n"
    if given is not None:
        nb["cells"].insert(0, {"cell_type": "code", "metadata": {}, "outputs": [],
                               "execution_count": None, "source": given})
    path.write_text(json.dumps(nb))
    with open(root / "lib" / "steps.py", "a") as f:
        f.write(f"\n\ndef helper(width):\n    {hidden}\n    return table\n")


def test_a_hidden_test_repeating_its_notebook_s_given_code_is_not_a_leak(tmp_path):
    # 02's hidden test rebuilds what 02 gives (its given code, also lib's utility code):
    # releasing 01 with that lib reveals nothing of 02's answers.
    root = make_toy_course(tmp_path / "course")
    _given_and_hidden(root, "table_of_widths = {}", "table_of_widths = {}")
    release(root, ["01_gradient_descent"], progress=False)
    assert find_leaks(root, "01_gradient_descent") == []


def test_a_hidden_test_line_in_lib_utility_code_is_a_leak(tmp_path):
    root = make_toy_course(tmp_path / "course")
    _given_and_hidden(root, None, "table_of_widths = {}")
    with pytest.raises(ReleaseError, match="(?s)leaks .*table_of_widths"):
        release(root, ["01_gradient_descent"], progress=False)


def test_the_course_order_has_one_source_of_truth():
    # course.cli.ASSIGNMENTS is what tests and the demo iterate over; nbgrader_config.py is
    # what instructors edit: they must not drift apart.
    from course.config import ASSIGNMENTS as CLI_ORDER
    from course.config import assignments

    assert assignments(ROOT) == list(CLI_ORDER)


# --- A release does not depend on who saved the source (issue 21) ---------------------------

# What ipykernel reports as language_info (ipykernel/ipkernel.py, IPythonKernel.language_info)
# and JupyterLab writes into the notebook when it saves: with the saving machine's Python.
SAVER_LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.12.3",
}


def _reversed_keys(value):
    """value with every dict's keys in reverse sorted order (another editor's order)."""
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in sorted(value, reverse=True)}
    if isinstance(value, list):
        return [_reversed_keys(v) for v in value]
    return value


def save_as_jupyterlab(path: Path) -> None:
    """Save the notebook at ``path`` unchanged the way JupyterLab does: the kernel's
    language_info in the metadata, then jupyter_server's writer (FileContentsManager's
    _save_notebook: nbformat.write, i.e. indent 1, sorted keys, sources split into lines)."""
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nb.metadata["language_info"] = nbformat.from_dict(SAVER_LANGUAGE_INFO)
    nbformat.write(nb, path, version=nbformat.NO_CONVERT)


def save_as_another_editor(path: Path) -> None:
    """Save it unchanged as some other editor might: keys in another order, indent 2, ASCII
    escapes, whole-string sources, its own kernelspec display name and metadata."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
    nb["metadata"]["language_info"] = dict(SAVER_LANGUAGE_INFO, version="3.13.1")
    nb["metadata"]["kernelspec"]["display_name"] = "Python 3"
    nb["metadata"]["vscode"] = {"interpreter": {"hash": "0" * 64}}
    path.write_text(json.dumps(_reversed_keys(nb), indent=2, ensure_ascii=True),
                    encoding="utf-8")


@pytest.mark.parametrize("save", [save_as_jupyterlab, save_as_another_editor])
def test_release_does_not_depend_on_who_saved_the_source(save, tmp_path):
    from course.config import make_course_root

    aid = ASSIGNMENTS[0]
    root = make_course_root(tmp_path / "course", [aid], src=ROOT)
    shutil.copytree(ROOT / "lib", root / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    release(root, [aid], release_dir=tmp_path / "before", progress=False)
    source = root / "source" / aid / f"{aid}.ipynb"
    text = source.read_text(encoding="utf-8")
    save(source)
    assert source.read_text(encoding="utf-8") != text  # the save did change the file
    release(root, [aid], release_dir=tmp_path / "after", progress=False)
    assert tree_differences(tmp_path / "before" / aid, tmp_path / "after" / aid) == []
    # and both are the committed release: what the repository's source gives
    assert tree_differences(ROOT / "release" / aid, tmp_path / "after" / aid) == []
    released = json.loads((tmp_path / "after" / aid / f"{aid}.ipynb").read_text("utf-8"))
    assert released["metadata"]["language_info"] == {"name": "python"}
    assert released["metadata"]["kernelspec"] == {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    assert "vscode" not in released["metadata"]
