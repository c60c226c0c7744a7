"""course.isolation.wire's decoder on arbitrary frames (issue 18, item 6): whatever arrives,
it returns a message or raises the codec's own WireError, never anything else, and never
takes long. Frames are arbitrary bytes, and frames whose header is well-formed JSON of the
codec's shape with wrong values in it."""

from __future__ import annotations

import json
import os
import signal
import struct
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.isolation import wire

SECONDS = 2  # per example: a hang fails the example instead of stopping the tests
# a longer search: WIRE_FUZZ_EXAMPLES=20000 pytest tests/test_wire_fuzz.py
EXAMPLES = int(os.environ.get("WIRE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds):
    def alarm(signum, frame):
        raise Hang(f"decoding took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _endpoint():
    """A trusted endpoint with state for a frame to refer to (links, a handle, a proxy)."""
    endpoint = wire.Endpoint(None, "t")
    endpoint.links = {"s1": np.zeros(3), "s2": [1, 2], "s3": {"a": 1},
                      "s4": np.random.default_rng(0), "t5": np.ones((2, 2))}
    endpoint._link_of = {id(v): k for k, v in endpoint.links.items()}
    endpoint._snap = {k: endpoint._state(v) for k, v in endpoint.links.items()}
    endpoint.exported = {"t6": object()}
    return endpoint


def _decode(frame):
    endpoint = _endpoint()
    with time_limit(SECONDS):
        try:
            message = endpoint.decode_message(frame)
        except wire.WireError:
            return None
    assert type(message) is dict
    return message


def _frame(header, blobs=()):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return b"".join([struct.pack("<I", len(raw)), raw, *blobs])


# -- arbitrary bytes ------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_decode_or_raise_wire_error(frame):
    _decode(frame)


@FUZZ
@given(st.binary(max_size=2048), st.lists(st.binary(max_size=64), max_size=4))
def test_arbitrary_headers_of_the_right_length_decode_or_raise_wire_error(header, blobs):
    _decode(_frame(header, blobs))


# -- well-formed JSON of the codec's shape, with wrong values ---------------------------------

KINDS = ["bigint", "bytes", "tuple", "scalar", "ref", "array", "list", "dict", "rng", "handle",
         "yours", "pickle", "", "$"]
DTYPES = ["<f8", "<f4", "<f2", "|b1", "<i8", "|u1", "<i2", ">f8", "|O", "V8", "<M8", "<c16",
          "f8,i4", "(2,)f8", "S3", "<U1", "[", "", "f9", "i3", "float64", "<" * 9]
LINKS = ["s1", "s2", "s3", "s4", "t5", "t6", "s99", "t99", "", "x"]
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
huge = st.sampled_from([2**31, 2**63, 10**30, -1, 0])


def _value(children):
    field = st.sampled_from(["$", "v", "k", "b", "dtype", "shape", "h", "kind", "type",
                             "state"])
    valued = st.fixed_dictionaries(
        {"$": st.sampled_from(KINDS)},
        optional={
            "v": children | st.lists(children, max_size=4) | st.text(max_size=30)
                 | st.lists(st.lists(children, max_size=3), max_size=3),
            "k": st.sampled_from(LINKS) | scalars,
            "b": st.integers(-2, 5) | huge | scalars,
            "dtype": st.sampled_from(DTYPES) | scalars,
            "shape": st.lists(st.integers(-1, 4) | huge, max_size=40) | scalars,
            "h": st.sampled_from(LINKS) | scalars,
            "kind": st.sampled_from(["callable", "iterator", "object", "x"]) | scalars,
            "type": st.text(max_size=200) | scalars,
            "state": st.fixed_dictionaries(
                {"bit_generator": st.sampled_from(["PCG64", "MT19937", "Philox", "SFC64",
                                                   "PCG64DXSM", "os.system"]) | scalars},
                optional={"state": st.dictionaries(st.text(max_size=8),
                                                   scalars | st.lists(st.integers(), max_size=5),
                                                   max_size=4) | scalars,
                          "has_uint32": scalars, "uinteger": scalars}) | scalars,
        })
    return valued | st.dictionaries(field, children, max_size=4) | st.lists(children, max_size=3)


values = st.recursive(scalars, _value, max_leaves=30)
headers = st.fixed_dictionaries({
    "m": st.dictionaries(st.text(max_size=5), values, max_size=4) | values,
    "sync": st.lists(values, max_size=3) | values,
    "forget": st.lists(st.sampled_from(LINKS) | scalars, max_size=4) | values,
    "blobs": st.lists(st.integers(0, 64), max_size=4) | values,
})


@st.composite
def frames(draw):
    header = draw(headers)
    sizes = header["blobs"]
    if type(sizes) is list and all(type(s) is int and 0 <= s <= 64 for s in sizes) \
            and draw(st.booleans()):
        blobs = [draw(st.binary(min_size=s, max_size=s)) for s in sizes]  # lengths that fit
    else:
        blobs = draw(st.lists(st.binary(max_size=64), max_size=4))
    return _frame(header, blobs)


@pytest.mark.slow  # about 10 s
@FUZZ
@given(frames())
def test_structurally_valid_headers_with_wrong_values_decode_or_raise_wire_error(frame):
    _decode(frame)


@pytest.mark.parametrize("frame", [
    _frame(b"[" * 100_000 + b"]" * 100_000),  # deeper than json's recursion
    _frame({"m": {"ok": {"$": "bigint", "v": "9" * 100_000}}, "sync": [], "forget": [],
            "blobs": []}),
    _frame({"m": {"ok": {"$": "bigint", "v": "twelve"}}, "sync": [], "forget": [], "blobs": []}),
    _frame({"m": {"ok": {"$": "array", "k": "s7", "dtype": "<f8", "shape": [0, 2**40, 2**40],
                         "b": 0}}, "sync": [], "forget": [], "blobs": [0]}),
    _frame({"m": {"ok": {"$": "dict", "k": "s7", "v": [[{"$": "tuple", "v": [[]]}, 1]]}},
            "sync": [], "forget": [], "blobs": []}),
    _frame({"m": {"ok": {"$": "rng", "k": "s4", "state": {"bit_generator": "PCG64",
                                                          "state": {"state": -1}}}},
            "sync": [], "forget": [], "blobs": []}),
    struct.pack("<I", 2**32 - 1) + b"{}",
])
def test_frames_that_once_escaped_as_other_errors(frame):
    """Examples of the kinds the fuzzing above looks for, kept as plain regression tests."""
    _decode(frame)
