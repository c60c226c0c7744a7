"""Assertion helpers for the nbgrader test cells of the notebooks.

When a course grades (``nbgrader autograde``, ``course grade``), test cells do not run in the
student's process: they run in a trusted runner and reach the student's functions over plain
data (docs/threat-model.md), so nothing here has to resist the student's code. In the
student's own JupyterLab (running a test cell, *Validate*) the same cells run in the student's
kernel, and this module still takes care that a verdict depends on nothing the student can
change after ``lib.grading`` is imported:

* **References are bound at import.** Every numpy callable used for a verdict (``np.array``,
  the ufuncs ``np.abs``, ``np.isfinite``, ``np.logical_and``, ...) and the builtins it relies
  on (``type``, ``float``, ``list``, ...) are copied into private module names when this
  module is imported, in the notebook's locked set-up cell. Rebinding ``numpy.allclose``,
  ``numpy.abs`` or ``numpy.testing.assert_allclose`` later changes nothing here. Verdicts use
  ufuncs, operators and C methods of exact ``numpy.ndarray`` objects only (C types cannot be
  patched), never pure-Python numpy functions such as ``np.allclose`` or the methods
  ``.all()`` / ``.max()``, which forward to patchable Python code.
* **Exact types only.** A student's value is first converted to a fresh float64 array, and
  only exact ``numpy.ndarray`` objects of bool/int/float dtype, numpy and Python numbers, and
  nested lists/tuples of those are accepted. Subclasses (``np.matrix``, masked arrays),
  object arrays and objects that merely implement ``__array__``, ``__float__`` or ``__eq__``
  are refused with ``TypeError`` *without calling any of their methods*: such an object could
  otherwise claim to equal anything. Types are compared by identity (``is``), so even a
  metaclass with a custom ``__eq__`` cannot pass.
* **No ``assert`` statements** (they vanish under ``python -O``): failures raise
  ``AssertionError`` explicitly, with a message written for the student: what was called, on
  which input, what was expected, what came back, and where the worst difference is.
* **Nothing on stderr.** nbgrader scores a test cell that writes to stderr as failed, so
  student functions are called through :func:`call`, which silences warnings and floating
  point errors, and the helpers themselves never print.
* **The message first.** In the student's kernel (a test cell run in JupyterLab, nbgrader
  *Validate*), a failed check shows its message first, wrapped to 80 columns (nbgrader
  validate cuts longer lines), then the line of the test cell that failed, and no frames of
  this module: the exceptions raised here are subclasses of ``AssertionError``,
  ``TypeError`` and ``ValueError`` that keep those names (``type(exc).__name__``, so error
  outputs and nbgrader's feedback still say ``AssertionError: ...``) and give IPython their
  own traceback text (``_render_traceback_``, which IPython uses instead of its own
  formatting). An exception of the student's function passing through :func:`call` keeps
  IPython's traceback of the student's code; this module's frames in it are hidden
  (``__tracebackhide__``, which IPython's ultratb honours). The trusted runner formats
  tracebacks itself (see course/runner.py).

What this module cannot prevent in the student's kernel (patching ``lib.grading`` itself,
patching numpy before the set-up cell runs) does not reach the trusted runner. Expected values in
test cells should come from literals, closed forms or ``lib``, never from numpy calls made
after student code has run.
"""

import contextlib
import copy
import inspect
import linecache
import math
import sys
import textwrap
import traceback
import warnings

import numpy as np

__all__ = [
    "as_float",
    "as_float_array",
    "as_int_array",
    "assert_array_equal_int",
    "assert_close",
    "assert_raises",
    "assert_rel_error",
    "assert_scalar_close",
    "assert_shape",
    "assert_true",
    "failure",
    "call",
    "call_keeps_inputs",
    "public",
    "quiet",
]

# -- references bound at import (see the module docstring) --------------------------------------
_type, _bool, _float, _list, _tuple, _dict = type, bool, float, list, tuple, dict
_isinstance = isinstance
_ndarray = np.ndarray
_bool_ = np.bool_
_float64 = np.float64
_int64 = np.int64
_array = np.array
_abs = np.abs
_isfinite = np.isfinite
_logical_and = np.logical_and
_maximum = np.maximum
_add_reduce = np.add.reduce
_sqrt = math.sqrt
_unravel_index = np.unravel_index
_count_nonzero = np.count_nonzero
_array2string = np.array2string
_errstate = np.errstate
_catch_warnings = warnings.catch_warnings
_deepcopy = copy.deepcopy
_fabs = math.fabs
_isfinite_scalar = math.isfinite
_TINY = _float(np.finfo(np.float64).tiny)

_NUMPY_INTS = tuple(np.dtype(code).type for code in np.typecodes["AllInteger"])
_NUMPY_FLOATS = tuple(np.dtype(code).type for code in np.typecodes["Float"])
_NUMBERS = (int, float, *_NUMPY_INTS, *_NUMPY_FLOATS)  # for as_float: no bools
_FLOAT_SCALARS = (bool, np.bool_, *_NUMBERS)
_INT_SCALARS = (int, *_NUMPY_INTS)
_PLAIN_SCALARS = (*_FLOAT_SCALARS, complex, str, bytes, type(None))
_MAX_DEPTH = 32  # deeper nesting (or a list that contains itself) is refused


# -- failures shown message first (see the module docstring) -----------------------------------
_WIDTH = 80  # nbgrader validate cuts lines beyond 87 characters, its 4-space indent included
_wrap = textwrap.wrap
_walk_tb = traceback.walk_tb
_getline = linecache.getline
_modules = sys.modules
_str = str


def _label(filename, lineno):
    """'Cell In[3], line 4' for a notebook cell (as IPython names it), else 'file, line 4'."""
    shell = None
    ipython = _modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
    name = shell.compile.format_code_name(filename) if shell is not None else None
    where = f"{name[0]} {name[1]}" if name else filename
    return f"{where}, line {lineno}"


def _student_frames(tb):
    """(frame, line number) of the traceback outside this module and IPython's machinery."""
    frames = []
    for frame, lineno in _walk_tb(tb):
        module = _str(frame.f_globals.get("__name__", ""))
        if module == __name__ or module == "IPython" or module.startswith("IPython."):
            continue
        if frame.f_locals.get("__tracebackhide__"):
            continue
        frames.append((frame, lineno))
    return frames


def _render(exc):
    """The lines IPython shows for a failed check: the message, then where it failed."""
    lines = []
    for paragraph in _str(exc).splitlines() or [""]:
        lines += _wrap(paragraph, _WIDTH, break_long_words=False, break_on_hyphens=False) or [""]
    frames = _student_frames(exc.__traceback__)[-3:]  # the test cell (and helpers it defined)
    for k, (frame, lineno) in enumerate(frames):
        code = _getline(frame.f_code.co_filename, lineno).strip()
        if len(code) > _WIDTH - 4:
            code = code[: _WIDTH - 7] + "..."
        function = frame.f_code.co_name
        inside = "" if function == "<module>" else f", in {function}()"
        head = "The check that failed: " if k == 0 else "called from: "
        lines += ["", head + _label(frame.f_code.co_filename, lineno) + inside]
        if code:
            lines.append("    " + code)
    return lines


class _MessageFirst:
    """Mixin of the exceptions raised here: IPython shows :func:`_render`'s text."""

    def _render_traceback_(self):
        try:
            return _render(self)
        except Exception:  # never let the display of a failure fail
            return [f"{_type(self).__name__}: {self}"]

    def __reduce__(self):  # pickled (e.g. sent to another process) as the builtin exception
        return _type(self).__mro__[2], self.args


class _Failure(_MessageFirst, AssertionError):
    """A check that failed."""


class _Refused(_MessageFirst, TypeError):
    """A value of a type that is not accepted."""


class _Unconvertible(_MessageFirst, ValueError):
    """A value that cannot be converted."""


# the names students and nbgrader see (error outputs, feedback; Python's own tracebacks say
# lib.grading.AssertionError): the builtin ones
for _cls in (_Failure, _Refused, _Unconvertible):
    _cls.__name__ = _cls.__qualname__ = _cls.__mro__[2].__name__
del _cls


# -- conversion -----------------------------------------------------------------------------------
def _is_one_of(value, types):
    """True iff the exact type of ``value`` is one of ``types``, compared by identity."""
    t = _type(value)
    for candidate in types:
        if t is candidate:
            return True
    return False


def _describe_type(value):
    t = _type(value)
    if t is _ndarray:
        return f"a numpy array of dtype {value.dtype}"
    qualname = f"{t.__module__}.{t.__qualname__}".removeprefix("builtins.")
    if issubclass(t, _ndarray):
        return f"{qualname} (a subclass of numpy.ndarray)"
    return qualname


def _find_refused(value, kinds, scalars, depth=0):
    """Describe the first part of ``value`` that is not allowed, or return None.

    Allowed: exact ndarrays whose dtype kind is in ``kinds``, exact ``scalars``, and exact
    lists/tuples of allowed values. Nothing of ``value`` is called, only inspected.
    """
    t = _type(value)
    if t is _list or t is _tuple:
        if depth >= _MAX_DEPTH:
            return f"a {t.__name__} nested more than {_MAX_DEPTH} levels deep"
        for item in value:
            refused = _find_refused(item, kinds, scalars, depth + 1)
            if refused is not None:
                return refused if refused.startswith("a list") else f"a list containing {refused}"
        return None
    if t is _ndarray:
        return None if value.dtype.kind in kinds else _describe_type(value)
    return None if _is_one_of(value, scalars) else _describe_type(value)


def _convert(value, name, dtype, kinds, scalars, wanted):
    refused = _find_refused(value, kinds, scalars)
    if refused is not None:
        raise _Refused(f"{name}: expected {wanted}, got {refused}")
    with _errstate(all="ignore"):
        if _type(value) is _ndarray:
            return value.astype(dtype, order="C", copy=True)
        try:
            return _array(value, dtype=dtype, order="C")
        except (ValueError, OverflowError) as exc:
            raise _Unconvertible(f"{name}: cannot be converted to an array ({exc})") from None


def as_float_array(value, name):
    """Return ``value`` as a new C-contiguous float64 ``numpy.ndarray``.

    Accepts Python and numpy numbers (bool, int, float), exact ``numpy.ndarray`` objects of
    bool/int/float dtype and nested lists/tuples of these. Raises ``TypeError`` naming ``name``
    for anything else: ndarray subclasses, object/complex/string arrays, complex numbers,
    strings, None and objects that only look like arrays or numbers.
    """
    wanted = "a plain numpy array (or list) of real numbers"
    return _convert(value, name, _float64, "biuf", _FLOAT_SCALARS, wanted)


def as_int_array(value, name):
    """Return integer labels ``value`` as a new C-contiguous int64 ``numpy.ndarray``.

    Accepts Python and numpy integers, exact ``numpy.ndarray`` objects of integer dtype and
    nested lists/tuples of these. Floats and bools are refused with ``TypeError``, like
    everything :func:`as_float_array` refuses.
    """
    wanted = "a plain numpy array (or list) of integer labels"
    return _convert(value, name, _int64, "iu", _INT_SCALARS, wanted)


def as_float(value, name):
    """Return the number ``value`` as a Python float.

    Accepts exact Python/numpy ints and floats and exact ``numpy.ndarray`` objects with one
    int/float element (0-d or size 1). Bools, strings, longer arrays and look-alikes raise
    ``TypeError`` naming ``name``.
    """
    if _is_one_of(value, _NUMBERS):
        try:
            return _float(value)
        except OverflowError:
            raise _Unconvertible(f"{name}: {value} is too large for a float") from None
    if _type(value) is _ndarray and value.dtype.kind in "iuf" and value.size == 1:
        with _errstate(all="ignore"):
            return _float(value.reshape(-1)[0])
    if _type(value) is _ndarray and value.dtype.kind in "iuf":
        got = f"an array of shape {value.shape}"
    else:
        got = _describe_type(value)
    raise _Refused(f"{name}: expected a single number (a float), got {got}")


# -- calling student code -------------------------------------------------------------------------
@contextlib.contextmanager
def quiet():
    """Context in which warnings and numpy floating point errors are silently ignored.

    Use it directly for a student function that is *meant* to update its arguments in place
    (which :func:`call` would hide by passing copies).
    """
    with _catch_warnings(action="ignore"), _errstate(all="ignore"):
        yield


def _copy(value):
    """Deep copy of data arguments; other objects (models, generators) are passed as they are."""
    return _deepcopy(value) if _isinstance(value, (_ndarray, _list, _tuple, _dict)) else value


def call(fn, *args, **kwargs):
    """Return ``fn(*args, **kwargs)`` called on copies of the data arguments, quietly.

    Arrays, lists, tuples and dicts are deep-copied, so a student function that modifies its
    input in place cannot corrupt the test's data; warnings and floating point errors are
    suppressed (see :func:`quiet`). Exceptions raised by ``fn`` propagate unchanged.
    """
    __tracebackhide__ = True  # IPython: show the student's frames, not this one
    args = [_copy(a) for a in args]
    kwargs = {k: _copy(v) for k, v in kwargs.items()}
    with quiet():
        return fn(*args, **kwargs)


def _unchanged(before, after):
    """True iff ``after`` (a copy of ``before`` that student code held) still equals it.

    Types are compared exactly, arrays bit for bit; objects other than arrays, containers and
    plain scalars are not inspected (they were not copied either).
    """
    t = _type(before)
    if _type(after) is not t:
        return False
    if t is _ndarray:
        if before.shape != after.shape or before.dtype != after.dtype:
            return False
        if before.dtype.kind == "O":
            return _unchanged(before.tolist(), after.tolist())
        return before.tobytes() == after.tobytes()
    if t is _list or t is _tuple:
        return len(before) == len(after) and all(
            _unchanged(b, a) for b, a in zip(before, after, strict=True)
        )
    if t is _dict:
        return len(before) == len(after) and all(
            k in after and _unchanged(v, after[k]) for k, v in before.items()
        )
    if _is_one_of(before, _PLAIN_SCALARS):
        return before == after or (before != before and after != after)  # NaN stays NaN
    return True


def _argument_label(fn, key):
    if _isinstance(key, str):
        return key
    try:
        return list(inspect.signature(fn).parameters)[key]
    except Exception:  # a builtin, *args, or an odd callable: fall back to the position
        return f"#{key + 1}"


def call_keeps_inputs(fn, *args, name=None, **kwargs):
    """Like :func:`call`, and fail if ``fn`` modified any of its arguments in place.

    ``name`` is how ``fn`` is called in the message (default: its ``__name__``). Returns the
    result of ``fn``; raises ``AssertionError`` naming the first modified argument.
    """
    __tracebackhide__ = True
    given = dict(enumerate(args)) | kwargs
    passed = {key: _copy(value) for key, value in given.items()}
    positional = [passed[i] for i in range(len(args))]
    with quiet():
        result = fn(*positional, **{k: passed[k] for k in kwargs})
    for key, original in given.items():
        if not _unchanged(original, passed[key]):
            label = name or getattr(fn, "__name__", "the function")
            raise _Failure(
                f"{label} modified its argument {_argument_label(fn, key)} in place. "
                "Leave the inputs unchanged and return new arrays instead "
                "(w = w - lr * grad rather than w -= lr * grad; index with a permutation "
                "rather than shuffling in place)."
            )
    return result


# -- formatting of messages (never part of a verdict) ----------------------------------------------
def _show(value, digits=4):
    """Short one-line text for a value in a message, its numbers with ``digits`` significant
    digits (``g`` format: 2.0 reads 2); long arrays are abbreviated."""
    if _isinstance(value, (_ndarray, list, tuple)):
        try:
            arr = _array(value)
        except Exception:
            arr = None
        if arr is not None and arr.dtype.kind in "biuf":
            text = _array2string(
                arr, threshold=12, edgeitems=2, separator=", ",
                formatter={"float_kind": lambda x: f"{x:.{digits}g}"},
            )
            return text.replace("\n", "")
    if _type(value) is bool or _type(value) is _bool_:
        return str(value)
    if _is_one_of(value, _FLOAT_SCALARS):
        return f"{value:.{digits}g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _show_both(expected, actual):
    """_show of both, with as many digits as it takes for values that differ to read
    differently ("Expected [2, 3], got [2, 3]" helps nobody)."""
    for digits in (4, 8, 17):
        shown = _show(expected, digits), _show(actual, digits)
        if shown[0] != shown[1]:
            break
    return shown


def _subject(name, inputs):
    """``name``, followed by a description of the input that was used, if any."""
    if inputs is None:
        return name
    if _isinstance(inputs, dict):
        inputs = ", ".join(f"{key}={_show(value)}" for key, value in inputs.items())
    return f"{name} with {inputs}"


def _at(flat_index, shape):
    """' at index (i, j)' for the flat index into an array of ``shape``; '' for 0-d."""
    if shape == ():
        return ""
    index = tuple(int(i) for i in _unravel_index(int(flat_index), shape))
    return f" at index {index[0] if len(index) == 1 else index}"


# -- assertions -----------------------------------------------------------------------------------
def _check_shape(actual, expected, subject):
    if actual.shape != expected.shape:
        raise _Failure(f"{subject}: expected shape {expected.shape}, got {actual.shape}")


def _check_finite(actual, expected, subject):
    finite = _isfinite(actual)
    if not _logical_and.reduce(finite, axis=None):
        i = (~finite).argmax()
        got, wanted = actual.reshape(-1)[i], expected.reshape(-1)[i]
        raise _Failure(
            f"{subject} returned {got}{_at(i, actual.shape)} (expected {wanted:.4g}); "
            f"every value must be a finite number (shape {actual.shape})"
        )


def _trusted_array(expected, what="expected"):
    expected = as_float_array(expected, what)
    if not _logical_and.reduce(_isfinite(expected), axis=None):
        raise ValueError(f"{what} values must be finite")
    return expected


def assert_close(actual, expected, name, *, rtol=1e-6, atol=1e-9, inputs=None):
    """Fail unless ``actual`` has the shape of ``expected``, is finite and is close to it.

    Close means ``|actual - expected| <= atol + rtol * |expected|`` for every element.
    ``name`` says what was computed (``"softmax(logits)"``); ``inputs`` (a string, or a dict
    of argument values) describes the input used, for the message.
    """
    subject = _subject(name, inputs)
    actual = as_float_array(actual, name)
    expected = _trusted_array(expected)
    _check_shape(actual, expected, subject)
    _check_finite(actual, expected, subject)
    with _errstate(all="ignore"):  # a huge wrong value may overflow: that is just a failure
        error = _abs(actual - expected)
        excess = error - (atol + rtol * _abs(expected))
    if _logical_and.reduce(excess <= 0.0, axis=None):
        return
    i = excess.argmax()
    n_wrong = _count_nonzero(excess > 0.0)
    shown, at = _show_both(expected, actual), _show_both(expected.reshape(-1)[i],
                                                         actual.reshape(-1)[i])
    raise _Failure(
        f"{subject}: {n_wrong} of {actual.size} values wrong (shape {actual.shape}). "
        f"Expected {shown[0]}, got {shown[1]}; largest error "
        f"{error.reshape(-1)[i]:.3g}{_at(i, actual.shape)} (expected {at[0]}, got {at[1]}; "
        f"rtol={rtol:g}, atol={atol:g})"
    )


def assert_scalar_close(actual, expected, name, *, rtol=1e-6, atol=1e-9, inputs=None):
    """Fail unless the number ``actual`` is finite and close to ``expected``.

    Close means ``|actual - expected| <= atol + rtol * |expected|``. ``actual`` is converted
    with :func:`as_float` (a 0-d or size-1 array is accepted).
    """
    subject = _subject(name, inputs)
    actual = as_float(actual, name)
    expected = _float(expected)
    if not _isfinite_scalar(actual):
        raise _Failure(f"{subject} returned {actual}, expected {expected:.6g}")
    error = _fabs(actual - expected)
    if not error <= atol + rtol * _fabs(expected):
        raise _Failure(
            f"{subject}: expected {expected:.6g}, got {actual:.6g} "
            f"(error {error:.3g}; rtol={rtol:g}, atol={atol:g})"
        )


def assert_array_equal_int(actual, expected, name, inputs=None):
    """Fail unless the integer labels ``actual`` equal ``expected`` exactly (shape included).

    Float arrays are refused with ``TypeError``, even if their values are whole numbers.
    """
    subject = _subject(name, inputs)
    actual = as_int_array(actual, name)
    expected = as_int_array(expected, "expected")
    _check_shape(actual, expected, subject)
    differs = actual != expected
    if not _logical_and.reduce(~differs, axis=None):
        i = differs.argmax()  # the first difference
        raise _Failure(
            f"{subject}: {_count_nonzero(differs)} of {actual.size} values wrong (shape "
            f"{actual.shape}). Expected {_show(expected)}, got {_show(actual)}; first "
            f"difference{_at(i, actual.shape)}: expected {expected.reshape(-1)[i]}, got "
            f"{actual.reshape(-1)[i]}"
        )


def assert_shape(actual, shape, name):
    """Fail unless ``actual`` (converted with :func:`as_float_array`) has shape ``shape``."""
    actual = as_float_array(actual, name)
    if actual.shape != tuple(shape):
        raise _Failure(f"{name}: expected shape {tuple(shape)}, got {actual.shape}")


def assert_true(condition, message):
    """Fail with ``message`` unless ``condition`` is ``True`` as an exact bool or ``np.bool_``.

    Objects with their own ``__bool__`` (which could always say True) are refused.
    """
    if not (_type(condition) is _bool or _type(condition) is _bool_):
        raise _Failure(f"{message} (the check gave {_describe_type(condition)}, not True or False)")
    if not condition:
        raise _Failure(message)


def failure(message):
    """The exception of a failed check, to ``raise`` where a test decides itself that it
    failed (``raise grading.failure(msg) from None``): the student sees ``message`` first, as
    for the checks above, and not a traceback into the test."""
    return _Failure(str(message))


def assert_raises(exc_types, fn, *args, name=None, **kwargs):
    """Pass iff ``fn(*args, **kwargs)`` (run via :func:`call`) raises one of ``exc_types``.

    Returns the exception. Any other exception, or a normal return, fails with a message
    using ``name`` (default: the function's ``__name__``).
    """
    __tracebackhide__ = True
    types = exc_types if _isinstance(exc_types, tuple) else (exc_types,)
    wanted = " or ".join(t.__name__ for t in types)
    label = name or getattr(fn, "__name__", "the function")
    try:
        call(fn, *args, **kwargs)
    except types as exc:
        return exc
    except Exception as exc:
        raise _Failure(f"{label} raised {_type(exc).__name__} ({exc}); expected {wanted}") from exc
    raise _Failure(f"{label} returned normally; expected it to raise {wanted}")


_PUBLIC = "__course_public__"  # the attribute the trusted runner reads (course/isolation/wire.py)


def public(obj=None, *, name=None):
    """Declare a test's object public: when graded, the student's code may see it as itself.

    A test cell runs in the trusted runner; a function, fake model or other object it passes
    to the student's code shows the student only an opaque name (``<test function>``,
    ``<test object>``) as its ``repr``, ``str`` and type name, and an exception it raises
    when the student's code calls it arrives with its type and a generic message. ``public``
    lifts that for one object, which the student may then print in their feedback::

        @grading.public                          # shows its own repr
        def loss(p): ...
        grading.public(model, name="a linear model")  # shows this text instead
        raise grading.public(ValueError("lr must be positive"))  # the message crosses

    A class declared public makes its instances public. Returns ``obj`` (used as
    ``@grading.public(name=...)`` without ``obj``, a decorator). Objects that take no
    attributes (a builtin function, a bound method) are wrapped in a function that calls them.
    The student's code may call a test's callable with plain data only (numbers, strings,
    arrays, lists, tuples, dicts); a public one also takes the student's own objects.
    """
    if obj is None:
        return lambda target: public(target, name=name)
    mark = True if name is None else _str(name)
    try:
        setattr(obj, _PUBLIC, mark)
    except (AttributeError, TypeError):
        def wrapper(*args, **kwargs):
            return obj(*args, **kwargs)

        setattr(wrapper, _PUBLIC, mark if name is not None else repr(obj))
        return wrapper
    return obj


def assert_rel_error(analytic, numeric, name, *, tol=1e-7):
    """Fail unless the relative error of ``analytic`` against ``numeric`` is at most ``tol``.

    The relative error is the one of ``lib.gradcheck.rel_error``, ``‖a − n‖ / (‖a‖ + ‖n‖)``
    with Euclidean norms over all elements (0 when both are 0): about 1e-9 or less for a
    correct gradient in float64, 1e-2 or more for a wrong one. ``analytic`` is the student's
    value; ``numeric`` is trusted (e.g. a numerical gradient). Returns the relative error.
    """
    analytic = as_float_array(analytic, name)
    numeric = _trusted_array(numeric, "numeric")
    _check_shape(analytic, numeric, name)
    _check_finite(analytic, numeric, name)
    with _errstate(all="ignore"):
        difference = analytic - numeric
        norm_d = _sqrt(_float(_add_reduce(difference * difference, axis=None)))
        norm_a = _sqrt(_float(_add_reduce(analytic * analytic, axis=None)))
        norm_n = _sqrt(_float(_add_reduce(numeric * numeric, axis=None)))
    denom = norm_a + norm_n
    rel = 0.0 if denom == 0 else norm_d / denom
    if rel <= tol:
        return rel
    i = _abs(difference).argmax()
    raise _Failure(
        f"{name}: relative error {rel:.2e} between analytic and numerical values exceeds "
        f"{tol:.0e} (shape {analytic.shape}); largest difference{_at(i, analytic.shape)}: "
        f"analytic {analytic.reshape(-1)[i]:.6g}, numerical {numeric.reshape(-1)[i]:.6g}"
    )
