"""Specification of lib.grading: the helpers that grade student functions in test cells."""

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from lib import grading

# np.matrix, one of the impostors, warns when created
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

# -- impostors: objects a student might return to fool a comparison -----------------------------


class EqualsEverything(np.ndarray):
    """An ndarray subclass whose == is always True."""

    def __eq__(self, other):
        return True


class ArrayLike:
    """Not an array, but numpy would happily convert it to the right answer."""

    def __array__(self, dtype=None, copy=None):
        return np.array([1.0, 2.0, 3.0])


class ArrayInterface:
    def __init__(self):
        self._data = np.array([1.0, 2.0, 3.0])
        self.__array_interface__ = self._data.__array_interface__


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class FloatLike:
    def __float__(self):
        return 1.0


class AlwaysTrue:
    def __bool__(self):
        return True


def _cyclic_list():
    lst = [1.0]
    lst.append(lst)
    return lst


IMPOSTORS = {
    "np.matrix": lambda: np.matrix([[1.0, 2.0, 3.0]]),
    "masked array": lambda: np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
    "ndarray subclass with __eq__ True": lambda: np.arange(3.0).view(EqualsEverything),
    "object with __array__": ArrayLike,
    "object with __array_interface__": ArrayInterface,
    "object with __eq__ always True": AlwaysEqual,
    "object with __float__": FloatLike,
    "object dtype array": lambda: np.array([1.0, 2.0, 3.0], dtype=object),
    "list containing an impostor": lambda: [1.0, FloatLike(), 3.0],
    "nested list containing an impostor": lambda: [[1.0, 2.0], [AlwaysEqual(), 3.0]],
    "list containing np.matrix": lambda: [np.matrix([1.0])],
    "complex number": lambda: 1 + 2j,
    "complex array": lambda: np.array([1 + 0j, 2 + 0j]),
    "string": lambda: "1.0",
    "string array": lambda: np.array(["1.0"]),
    "None": lambda: None,
    "list that contains itself": _cyclic_list,
}


# -- conversion -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2, [2.0]),
        (2.5, [2.5]),
        (True, [1.0]),
        (np.float32(0.5), [0.5]),
        (np.int16(-3), [-3.0]),
        ([1, 2.5, False], [1.0, 2.5, 0.0]),
        (((1, 2), (3, 4)), [[1.0, 2.0], [3.0, 4.0]]),
        ([np.array([1, 2]), np.array([3, 4])], [[1.0, 2.0], [3.0, 4.0]]),
        (np.array([True, False]), [1.0, 0.0]),
        (np.array([[1, 2]], dtype=np.uint8), [[1.0, 2.0]]),
    ],
)
def test_as_float_array_accepts_numbers_lists_and_plain_arrays(value, expected):
    out = grading.as_float_array(value, "x")
    assert type(out) is np.ndarray
    assert out.dtype == np.float64
    assert out.tolist() == (expected if np.ndim(value) else expected[0])


def test_as_float_array_returns_c_contiguous_copy():
    original = np.arange(6.0).reshape(2, 3).T
    out = grading.as_float_array(original, "x")
    out[0, 0] = 99.0
    assert out.flags.c_contiguous
    assert original[0, 0] == 0.0


@pytest.mark.parametrize("make", IMPOSTORS.values(), ids=IMPOSTORS.keys())
def test_as_float_array_refuses_impostors_with_type_error(make):
    with pytest.raises(TypeError, match="^predict"):
        grading.as_float_array(make(), "predict")


def test_refusal_message_names_the_type_of_the_impostor():
    with pytest.raises(TypeError, match="matrix.*subclass of numpy.ndarray"):
        grading.as_float_array(np.matrix([1.0]), "f(x)")
    with pytest.raises(TypeError, match="list containing .*FloatLike"):
        grading.as_float_array([1.0, FloatLike()], "f(x)")


def test_as_float_array_refuses_impostor_without_calling_it():
    class Trap:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("called")

        def __float__(self):
            raise RuntimeError("called")

        def __len__(self):
            raise RuntimeError("called")

    with pytest.raises(TypeError):
        grading.as_float_array([Trap()], "x")


def test_as_float_array_refuses_ragged_lists_with_value_error():
    with pytest.raises(ValueError, match="^x"):
        grading.as_float_array([[1.0, 2.0], [3.0]], "x")


def test_as_int_array_accepts_integer_arrays_and_lists():
    assert grading.as_int_array(np.array([0, 2], dtype=np.int32), "y").tolist() == [0, 2]
    assert grading.as_int_array([1, np.int64(2)], "y").dtype == np.int64


@pytest.mark.parametrize(
    "value", [np.array([0.0, 1.0]), [0, 1.0], np.array([True, False]), [True], 1.0]
)
def test_as_int_array_refuses_floats_and_bools(value):
    with pytest.raises(TypeError, match="^labels"):
        grading.as_int_array(value, "labels")


@pytest.mark.parametrize(
    "value", [3, 3.0, np.float32(3.0), np.int8(3), np.array(3.0), np.array([3.0]), np.array([[3]])]
)
def test_as_float_accepts_numbers_and_one_element_arrays(value):
    out = grading.as_float(value, "loss")
    assert type(out) is float
    assert out == 3.0


@pytest.mark.parametrize(
    "value", [True, np.True_, "3.0", None, 3j, np.array([1.0, 2.0]), FloatLike(), [3.0]]
)
def test_as_float_refuses_bools_strings_arrays_and_impostors(value):
    with pytest.raises(TypeError, match="^loss"):
        grading.as_float(value, "loss")


# -- assert_close ---------------------------------------------------------------------------------


def test_assert_close_passes_equal_values():
    grading.assert_close(np.array([[0.5, 1.0]]), [[0.5, 1.0]], "f(x)")


def test_assert_close_passes_within_relative_tolerance():
    # |1000.0005 - 1000| = 5e-4 <= 1e-9 + 1e-6 * 1000 = 1e-3
    grading.assert_close([1000.0005], [1000.0], "f(x)")


def test_assert_close_fails_outside_relative_tolerance():
    # |1000.002 - 1000| = 2e-3 > 1e-3
    with pytest.raises(AssertionError):
        grading.assert_close([1000.002], [1000.0], "f(x)")


def test_assert_close_message_names_function_shape_and_worst_index():
    expected = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    actual = np.array([[0.0, 0.1, 0.0], [0.0, 0.0, 0.25]])
    with pytest.raises(AssertionError) as info:
        grading.assert_close(actual, expected, "relu(z)")
    message = str(info.value)
    assert message.startswith("relu(z)")
    assert "2 of 6 values wrong" in message
    assert "shape (2, 3)" in message
    assert "largest error 0.25 at index (1, 2)" in message


def test_assert_close_message_uses_a_plain_index_for_vectors():
    with pytest.raises(AssertionError, match=r"largest error 0\.5 at index 2 "):
        grading.assert_close([1.0, 2.0, 3.5], [1.0, 2.0, 3.0], "f(x)")


def test_assert_close_message_shows_the_inputs():
    with pytest.raises(AssertionError, match=r"^softmax\(logits\) with logits=\[\[1, 2, 3\]\]"):
        grading.assert_close(
            [[1 / 3, 1 / 3, 1 / 3]],
            [[0.09003057, 0.24472847, 0.66524096]],
            "softmax(logits)",
            inputs={"logits": np.array([[1, 2, 3]])},
        )
    with pytest.raises(AssertionError, match="^f with a batch of 2 rows:"):
        grading.assert_close([1.0], [2.0], "f", inputs="a batch of 2 rows")


def test_assert_close_abbreviates_long_arrays():
    with pytest.raises(AssertionError) as info:
        grading.assert_close(np.zeros(1000), np.ones(1000), "f(x)")
    assert "..." in str(info.value)
    assert len(str(info.value)) < 400


def test_assert_close_refuses_shape_mismatch():
    with pytest.raises(AssertionError, match=r"^f\(x\): expected shape \(3, 4\), got \(4, 3\)$"):
        grading.assert_close(np.zeros((4, 3)), np.zeros((3, 4)), "f(x)")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_assert_close_refuses_nan_and_inf(bad):
    with pytest.raises(AssertionError, match=r"f\(x\) returned (nan|inf|-inf) at index 1"):
        grading.assert_close([0.0, bad], [0.0, 1.0], "f(x)")


def test_assert_close_refuses_nan_even_with_huge_tolerance():
    with pytest.raises(AssertionError):
        grading.assert_close([np.nan], [1.0], "f(x)", atol=np.inf)


@pytest.mark.parametrize("make", IMPOSTORS.values(), ids=IMPOSTORS.keys())
def test_assert_close_refuses_impostors_with_type_error(make):
    with pytest.raises(TypeError):
        grading.assert_close(make(), [1.0, 2.0, 3.0], "f(x)")


def test_assert_close_overflowing_difference_fails_without_warning():
    # 1e308 - (-1e308) overflows; that must be an AssertionError, not a RuntimeWarning
    with pytest.raises(AssertionError):
        grading.assert_close([1e308], [-1e308], "f(x)")


def test_assert_close_ignores_monkeypatched_numpy(monkeypatch):
    def always_true(*args, **kwargs):
        return True

    monkeypatch.setattr(np, "allclose", always_true)
    monkeypatch.setattr(np, "isclose", always_true)
    monkeypatch.setattr(np, "array_equal", always_true)
    monkeypatch.setattr(np, "all", always_true)
    monkeypatch.setattr(np, "any", lambda *args, **kwargs: False)
    monkeypatch.setattr(np, "abs", lambda x, *args, **kwargs: 0.0 * np.asarray(x))
    monkeypatch.setattr(np, "absolute", lambda x, *args, **kwargs: 0.0 * np.asarray(x))
    monkeypatch.setattr(np, "isfinite", lambda x, *args, **kwargs: True)
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *args, **kwargs: None)
    monkeypatch.setattr(np.testing, "assert_array_equal", lambda *args, **kwargs: None)

    with pytest.raises(AssertionError):
        grading.assert_close([1.0, 2.0, 4.0], [1.0, 2.0, 3.0], "f(x)")
    with pytest.raises(AssertionError):
        grading.assert_close([np.nan], [1.0], "f(x)")
    grading.assert_close([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "f(x)")


# -- other assertions -----------------------------------------------------------------------------


def test_assert_scalar_close_passes_close_numbers_and_0d_arrays():
    grading.assert_scalar_close(0.6931471805599453, np.log(2.0), "loss")
    grading.assert_scalar_close(np.array(2.0), 2.0, "loss")


def test_assert_scalar_close_fails_with_expected_and_got():
    with pytest.raises(AssertionError, match=r"^loss with w=2: expected 4, got 5 \(error 1;"):
        grading.assert_scalar_close(5.0, 4.0, "loss", inputs="w=2")


def test_assert_scalar_close_refuses_nan():
    with pytest.raises(AssertionError, match="loss returned nan"):
        grading.assert_scalar_close(float("nan"), 1.0, "loss")


def test_assert_scalar_close_refuses_bool():
    with pytest.raises(TypeError):
        grading.assert_scalar_close(True, 1.0, "loss")


def test_assert_array_equal_int_passes_equal_labels():
    grading.assert_array_equal_int(np.array([2, 0, 1]), [2, 0, 1], "predict(X)")


def test_assert_array_equal_int_reports_count_and_first_difference():
    with pytest.raises(AssertionError) as info:
        grading.assert_array_equal_int([0, 1, 1, 0], [0, 1, 2, 2], "predict(X)")
    message = str(info.value)
    assert message.startswith("predict(X): 2 of 4 values wrong (shape (4,))")
    assert "first difference at index 2: expected 2, got 1" in message


def test_assert_array_equal_int_refuses_float_labels():
    with pytest.raises(TypeError, match="float64"):
        grading.assert_array_equal_int(np.array([0.0, 1.0]), [0, 1], "predict(X)")


def test_assert_array_equal_int_refuses_shape_mismatch():
    with pytest.raises(AssertionError, match=r"expected shape \(3,\), got \(1, 3\)"):
        grading.assert_array_equal_int([[0, 1, 2]], [0, 1, 2], "predict(X)")


def test_assert_shape():
    grading.assert_shape(np.zeros((2, 3)), (2, 3), "W")
    with pytest.raises(AssertionError, match=r"^W: expected shape \(3, 2\), got \(2, 3\)$"):
        grading.assert_shape(np.zeros((2, 3)), (3, 2), "W")


@pytest.mark.parametrize("condition", [True, np.True_, np.float64(1.0) > 0])
def test_assert_true_passes_true_bools(condition):
    grading.assert_true(condition, "should hold")


def test_assert_true_fails_false_with_the_message():
    with pytest.raises(AssertionError, match="^loss must decrease$"):
        grading.assert_true(False, "loss must decrease")


@pytest.mark.parametrize("condition", [AlwaysTrue(), 1, "yes", np.array([True])])
def test_assert_true_refuses_anything_but_a_bool(condition):
    with pytest.raises(AssertionError, match="^loss must decrease"):
        grading.assert_true(condition, "loss must decrease")


def _check_positive(x):
    if x <= 0:
        raise ValueError("x must be positive")
    return x


def test_assert_raises_passes_and_returns_the_exception():
    exc = grading.assert_raises(ValueError, _check_positive, -1.0)
    assert str(exc) == "x must be positive"
    grading.assert_raises((TypeError, ValueError), _check_positive, -1.0)


def test_assert_raises_fails_when_the_function_returns():
    with pytest.raises(AssertionError, match="^check returned normally; expected it to raise"):
        grading.assert_raises(ValueError, _check_positive, 1.0, name="check")


def test_assert_raises_fails_on_another_exception():
    with pytest.raises(AssertionError, match="raised ValueError .*expected KeyError"):
        grading.assert_raises(KeyError, _check_positive, -1.0)


def test_assert_rel_error_passes_and_returns_the_relative_error():
    # ‖a - n‖ = 1e-9, ‖a‖ + ‖n‖ = 2√5 (to 1e-9) -> 1e-9 / (2√5) = 2.236e-10
    rel = grading.assert_rel_error([1.0, 2.0], [1.0, 2.0 + 1e-9], "dW")
    assert rel == pytest.approx(1e-9 / (2 * 5**0.5), rel=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_assert_rel_error_is_gradchecks_rel_error(seed):
    # one definition of the relative error in lib: grading's verdict uses gradcheck's formula
    from lib.gradcheck import rel_error

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, 4))
    n = a + rng.standard_normal((3, 4)) * 10.0 ** -rng.integers(3, 12)
    assert grading.assert_rel_error(a, n, "dW", tol=1.0) == pytest.approx(
        rel_error(a, n), rel=1e-12
    )


def test_assert_rel_error_passes_all_zero_gradients():
    assert grading.assert_rel_error(np.zeros(3), np.zeros(3), "db") == 0.0


def test_assert_rel_error_fails_a_wrong_gradient_at_its_worst_index():
    # ‖a - n‖ = 0.5, worst at index (0, 1); ‖a‖ + ‖n‖ = 1 + 1.5 = 2.5 -> 0.2
    with pytest.raises(AssertionError, match=r"^dW: relative error 2.00e-01 .*index \(0, 1\)"):
        grading.assert_rel_error([[0.0, 1.0]], [[0.0, 1.5]], "dW")


# -- calling student functions --------------------------------------------------------------------


def test_call_returns_the_result():
    assert grading.call(lambda a, b=1: a + b, 1, b=2) == 3


def test_call_suppresses_warnings_and_writes_nothing_to_stderr(capfd):
    def noisy(x):
        warnings.warn("careful", UserWarning, stacklevel=1)
        return np.exp(x)  # overflows: RuntimeWarning, an error under this pytest config

    assert grading.call(noisy, np.array([1000.0]))[0] == np.inf
    assert capfd.readouterr() == ("", "")


def test_call_protects_inputs_from_in_place_modification():
    def scale_in_place(x, params):
        x *= 2.0
        params["W"][0] = 99.0
        return x

    x = np.array([1.0, 2.0])
    params = {"W": np.zeros(2)}
    out = grading.call(scale_in_place, x, params=params)
    assert out.tolist() == [2.0, 4.0]
    assert x.tolist() == [1.0, 2.0]
    assert params["W"].tolist() == [0.0, 0.0]


def test_call_propagates_exceptions_unchanged():
    with pytest.raises(ValueError, match="x must be positive"):
        grading.call(_check_positive, -1.0)


def test_call_keeps_inputs_returns_result_of_a_pure_function():
    def pure(w, grad, lr):
        return w - lr * grad

    out = grading.call_keeps_inputs(pure, np.ones(2), np.ones(2), lr=0.5)
    assert out.tolist() == [0.5, 0.5]


def test_call_keeps_inputs_names_the_argument_modified_in_place():
    def step(w, grad, lr):
        w -= lr * grad
        return w

    with pytest.raises(AssertionError, match="^gd_step modified its argument w in place"):
        grading.call_keeps_inputs(step, np.ones(2), np.ones(2), lr=0.5, name="gd_step")


def test_call_keeps_inputs_detects_replaced_list_items():
    def swap(items):
        items[0] = AlwaysEqual()
        return items

    with pytest.raises(AssertionError, match="modified its argument items"):
        grading.call_keeps_inputs(swap, [np.zeros(2)])


def test_helpers_write_nothing_to_stdout_or_stderr_on_failure(capfd):
    with pytest.raises(AssertionError):
        grading.assert_close([np.inf, 1e308], [1.0, -1e308], "f(x)")
    with pytest.raises(AssertionError):
        grading.assert_close([1e308, 0.0], [-1e308, 0.0], "f(x)")
    with pytest.raises(AssertionError):
        grading.assert_rel_error([1e308], [-1e308], "dW")
    assert capfd.readouterr() == ("", "")


# -- the message first (issue 17, item 7) -------------------------------------------------------


def _failure(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # the test inspects what was raised
        return exc
    raise AssertionError("expected a failure")


@pytest.mark.parametrize(
    ("make", "builtin"),
    [
        (lambda: grading.assert_close([2.0, 3.0], [2.0, 4.0], "f"), AssertionError),
        (lambda: grading.assert_true(np.False_, "loss must decrease"), AssertionError),
        (lambda: grading.as_float_array(None, "f(x)"), TypeError),
        (lambda: grading.as_float(np.zeros(3), "loss"), TypeError),
        (lambda: grading.as_float_array([[1.0], [1.0, 2.0]], "f(x)"), ValueError),
    ],
)
def test_failures_keep_the_builtin_names(make, builtin):
    exc = _failure(make)
    assert isinstance(exc, builtin)
    # error outputs, nbgrader feedback and course.wire name exceptions by type(exc).__name__
    assert type(exc).__name__ == builtin.__name__
    copied = pickle.loads(pickle.dumps(exc))  # another process gets the builtin exception
    assert type(copied) is builtin and copied.args == exc.args


def test_a_failure_renders_its_message_first_without_the_helpers_frames():
    message = "w" * 30 + " " + "x" * 60 + " " + "y" * 10  # 102 characters: wrapped
    exc = _failure(grading.assert_true, np.False_, message)
    lines = exc._render_traceback_()
    assert lines[:2] == ["w" * 30, "x" * 60 + " " + "y" * 10]  # wrapped at 80 columns
    assert lines[2] == ""
    # the frame of this test function is where the check was made; grading.py is never named
    assert lines[3] == (
        f"The check that failed: {__file__}, line "
        f"{_failure.__code__.co_firstlineno + 2}, in _failure()"
    )
    assert lines[4] == "    fn(*args, **kwargs)"
    assert not [line for line in lines if grading.__file__ in line or "lib/grading" in line]


def test_a_failure_a_test_raises_itself_renders_like_a_check():
    """``raise grading.failure(msg) from None`` (05's test cells, where a test decides on its
    own): an AssertionError by name and to pickle, whose message comes first."""
    try:
        try:
            {}["missing"]
        except KeyError:
            raise grading.failure("your softmax is wrong here: fix it first") from None
    except AssertionError as caught:
        exc = caught
    assert type(exc).__name__ == "AssertionError" and exc.__cause__ is None
    assert exc.__suppress_context__
    assert exc._render_traceback_()[0] == "your softmax is wrong here: fix it first"
    assert type(pickle.loads(pickle.dumps(exc))) is AssertionError


def test_a_multi_line_message_keeps_its_lines():
    exc = _failure(grading.assert_true, False, "first line\nsecond line")
    assert exc._render_traceback_()[:2] == ["first line", "second line"]


def _notebook_outputs(cells: list[str]) -> list[list[dict]]:
    """Execute code cells in a fresh IPython kernel (the student's JupyterLab); their outputs."""
    import nbformat
    from nbclient import NotebookClient

    root = Path(__file__).resolve().parents[1]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    setup = f"import sys\nsys.path.insert(0, {str(root)!r})\n"
    setup += "import numpy as np\nfrom lib import grading"
    nb.cells = [nbformat.v4.new_code_cell(c) for c in [setup, *cells]]
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    return [c.outputs for c in nb.cells[1:]]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error_text(outputs: list[dict]) -> tuple[dict, list[str]]:
    [error] = [o for o in outputs if o["output_type"] == "error"]
    text = _ANSI.sub("", "\n".join(error["traceback"]))
    return error, text.splitlines()


@pytest.mark.slow
def test_in_the_students_kernel_a_failing_check_shows_its_message_first():
    wrong, student_error, in_place = _notebook_outputs(
        [
            "def f(x):\n    return x + 1\n\n"
            "grading.assert_close(grading.call(f, np.array([1.0, 2.0])), [2.0, 4.0], 'f',\n"
            "                     inputs='x=[1, 2]')",
            "def g(x):\n    raise ValueError('a bug in g')\n\ngrading.call(g, 1.0)",
            "def h(a):\n    a.sort()\n\ngrading.call_keeps_inputs(h, np.array([2.0, 1.0]))",
        ]
    )
    error, lines = _error_text(wrong)
    assert error["ename"] == "AssertionError"
    assert (
        lines[0]
        == "f with x=[1, 2]: 1 of 2 values wrong (shape (2,)). Expected [2, 4], got [2, 3];"
    )
    assert " ".join(lines[:2]) == error["evalue"]  # the whole message, then where it failed
    assert lines[2:4] == ["", "The check that failed: Cell In[2], line 4"]
    assert lines[4].startswith("    grading.assert_close(grading.call(f, np.array([1.0, 2.0]))")
    assert len(lines) == 5 and not [line for line in lines if "grading.py" in line]

    # the student's own exception: IPython's traceback of the student's code, without the
    # frame of grading.call it passed through
    error, lines = _error_text(student_error)
    assert error["ename"] == "ValueError" and lines[-1] == "ValueError: a bug in g"
    assert "----> 2     raise ValueError('a bug in g')" in lines
    assert not [line for line in lines if "grading.py" in line or "_copy(" in line]

    error, lines = _error_text(in_place)
    assert lines[0].startswith("h modified its argument a in place.")
    assert not [line for line in lines if "grading.py" in line]
    for outputs in (wrong, student_error, in_place):  # nothing on stderr
        assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"]


@pytest.mark.parametrize("got", [3.00001, 3.0 + 3e-9])
def test_a_near_miss_reads_differently_from_what_was_expected(got):
    """A value that is wrong by less than 4 significant digits shows enough digits that the
    message does not say "expected [2, 3], got [2, 3]"."""
    exc = _failure(grading.assert_close, np.array([2.0, got]), np.array([2.0, 3.0]), "f(x)",
                   rtol=1e-12, atol=0.0)
    text = str(exc)
    expected_shown = text.split("Expected ")[1].split(", got ")[0]
    got_shown = text.split(", got ")[1].split(";")[0]
    assert expected_shown == "[2, 3]" and got_shown != expected_shown, text
    assert float(got_shown.strip("[]").split(",")[1]) == got  # the digits it takes, exactly
    inner = text.split("(expected ")[1]
    assert inner.split(",")[0] != inner.split("got ")[1].split(";")[0], text
