"""The boundary between a student's kernel and the trusted test process: data and calls.

This module is self-contained (standard library and numpy only) because its *source* is what
both sides run: the trusted runner (:mod:`course.isolation.runner`) and the agent that
serves calls inside the student's kernel (:mod:`course.isolation.agent`) are each built by
concatenating this file with their own. Nothing here is imported by the student's kernel
from the instructor's files.

**What crosses** is plain data, encoded as one frame: a JSON header and raw byte blobs.

============================  ==================================================
value                         on the wire
============================  ==================================================
None, bool, int, float, str   JSON scalars (exact types; NaN and inf allowed)
bytes                         a blob
tuple                         ``{"$": "tuple", "v": [...]}``
list, dict                    ``{"$": "list" | "dict", ...}``, *linked* (below)
numpy array, dtype b/i/u/f    ``{"$": "array", dtype, shape, blob}``, *linked*
numpy.random.Generator        ``{"$": "rng", bit generator, state}``, *linked*
numpy scalar, dtype b/i/u/f   ``{"$": "scalar", dtype, blob}``
anything else                 ``{"$": "handle", "h": id}``: stays where it is
============================  ==================================================

Decoding builds only those builtin types and exact ``numpy.ndarray`` objects from a dtype on
an allow-list (``numpy.frombuffer``: no pickle, no object arrays); nothing from the other side
is executed, unpickled or looked up by name. A handle arrives as a proxy whose operations are
requests to the side that owns the object.

**Linked containers** keep the semantics of one process for the mutable data that crosses:
an array, list or dict sent to the other side gets a link id, and at every later message in
either direction the sender includes the new contents of every linked object it changed
since the peer last saw it; the receiver updates its copy *in place*. So a student function
that modifies its argument is seen to do so, a model whose ``params`` a student's ``train``
updates is updated, and identity is kept (the same dict sent twice arrives as one dict).

**Lifetimes are explicit**, never read from reference counts: links last at most one test
cell (``reset_links``), and the serving side (the student's, whose code runs only while it
serves a request) forgets earlier, in the reply to each request of the peer's that is not a
callback within a call of its own: then no frame of its own is running, and a link whose
object it cannot reach from its roots (the objects it exported and its namespace:
:meth:`Endpoint.roots`) can never be read or changed on its side again. Its reply lists
those links in ``forget``, after their last changes, and the peer drops them too. Results no
one kept and arguments no one stored are forgotten this way; everything else stays linked.

**Calls** are symmetric and nested: while one side waits for its reply it serves the other
side's requests (a student's ``train`` calling back into a test's fake model). What a side
lets the other do with its objects is its :class:`Policy`.
"""

import json
import struct

import numpy as np

MAX_DEPTH = 64  # nesting of containers, and of calls between the two sides
MAX_FRAME = 1 << 30  # bytes of one message
# dtypes that may cross (byte order is normalised to little-endian or '|')
_KINDS = "biuf"
_ITEMSIZES = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8)}


class WireError(Exception):
    """A message that is not well-formed, or a value that cannot cross."""


class RemoteError(Exception):
    """An exception raised on the other side whose type has no local equivalent."""

    def __init__(self, type_name, message, trace=""):
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_message = message
        self.remote_trace = trace


class PeerGone(Exception):
    """The other side closed the connection, died or did not answer in time."""


# Exceptions re-raised with their own type when the other side raises them: a test may
# expect a student's function to raise ValueError (grading.assert_raises), and a student's
# loop over a test's iterator must see StopIteration.
EXCEPTIONS = {
    cls.__name__: cls
    for cls in (
        ArithmeticError, AssertionError, AttributeError, FloatingPointError, IndexError,
        KeyError, LookupError, MemoryError, NameError, NotImplementedError, OverflowError,
        RecursionError, RuntimeError, StopIteration, TypeError, ValueError,
        ZeroDivisionError,
    )
}


def _dtype_ok(dtype):
    return dtype.kind in _KINDS and dtype.itemsize in _ITEMSIZES[dtype.kind]


def _wire_dtype(dtype):
    return dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype


class Policy:
    """What the other side may do with this side's objects. Subclasses restrict or widen.

    ``export(obj)`` decides whether a non-plain object may be sent as a handle (else
    WireError); ``allowed(op, obj, name)`` whether a request on an exported object is served.
    """

    def export(self, obj):
        return True

    def allowed(self, op, obj, name=None):
        return True

    def getattr_result(self, obj, name, value):
        """The value returned for ``getattr(obj, name)`` (may raise AttributeError)."""
        return value

    def plain(self, value):
        """Optionally turn a value into plain data before encoding (or return it as is)."""
        return value

    def type_name(self, obj):
        """The type name a handle to ``obj`` tells the other side."""
        return type(obj).__name__

    def text(self, obj, op):
        """What ``repr`` (op "repr") or ``str`` (op "str") of ``obj`` shows the other side."""
        return repr(obj) if op == "repr" else str(obj)


PUBLIC = "__course_public__"  # attribute by which a trusted object is declared public


def public(obj):
    """What ``obj`` declares (attribute PUBLIC, read statically: no ``__getattr__`` runs):
    None (opaque), True (shown as itself) or the text it is shown as. A bound method is
    public when its function or its object is."""
    import inspect
    import types

    if isinstance(obj, types.MethodType):
        return public(obj.__func__) or public(obj.__self__)
    try:
        value = inspect.getattr_static(obj, PUBLIC, None)
    except Exception:  # noqa: BLE001 - an object that cannot say is opaque
        return None
    return value if value is True or type(value) is str else None


class Proxy:
    """A local stand-in for an object of the other side. Every operation is a request.

    Comparison, hashing and truth are the proxy's own (identity; truth is an error), never
    the remote object's: a remote ``__eq__`` that always says True must not pass a test.
    """

    __slots__ = ("_wire_endpoint", "_wire_handle", "_wire_kind", "_wire_type", "__weakref__")

    def __init__(self, endpoint, handle, kind, type_name):
        object.__setattr__(self, "_wire_endpoint", endpoint)
        object.__setattr__(self, "_wire_handle", handle)
        object.__setattr__(self, "_wire_kind", kind)
        object.__setattr__(self, "_wire_type", type_name)

    def _wire(self, op, **kw):
        return self._wire_endpoint.request(op, h=self._wire_handle, **kw)

    def __call__(self, *args, **kwargs):
        # the argument list and keyword dict are the protocol's, not data to link
        return self._wire("call", args=args, kwargs=tuple(kwargs.items()))

    def __getattr__(self, name):
        # Dunder names are protocols (numpy's __array_interface__ could point numpy at any
        # memory, __deepcopy__, __reduce__ ...): never asked of the other side.
        if name.startswith("__") or name.startswith("_wire_"):
            raise AttributeError(name)
        return self._wire("getattr", name=name)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError("an object of the other side cannot be pickled")

    def __setattr__(self, name, value):
        self._wire("setattr", name=name, value=value)

    def __getitem__(self, key):
        return self._wire("getitem", key=key)

    def __setitem__(self, key, value):
        self._wire("setitem", key=key, value=value)

    def __len__(self):
        if self._wire_kind == "iterator":  # TypeError: list(iterator) asks, and goes on
            raise TypeError(f"a {self._wire_type} has no len()")
        n = self._wire("len")
        if type(n) is not int or n < 0:
            raise TypeError(f"len() of {self._wire_type} gave {type(n).__name__}")
        return n

    def __iter__(self):
        if self._wire_kind == "iterator":
            return self
        return self._wire("iter")

    def __next__(self):
        return self._wire("next")

    def __bool__(self):
        raise TypeError(
            f"the truth value of a {self._wire_type} object from the other side is not "
            "defined here (compare its data instead)"
        )

    def __repr__(self):
        try:
            text = self._wire("repr")
        except Exception:
            text = None
        return text if type(text) is str else f"<{self._wire_type} object>"

    def __str__(self):
        try:
            text = self._wire("str")
        except Exception:
            text = None
        return text if type(text) is str else f"<{self._wire_type} object>"

    __hash__ = object.__hash__

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other


def proxy_kind(obj):
    import types

    if isinstance(obj, (types.GeneratorType, types.CoroutineType)) or (
        hasattr(type(obj), "__next__") and hasattr(type(obj), "__iter__")
    ):
        return "iterator"
    return "callable" if callable(obj) else "object"


class Endpoint:
    """One side of the connection: encodes, decodes, sends requests and serves the peer's.

    conn: a ``multiprocessing.connection.Connection`` (only ``send_bytes``/``recv_bytes``
    are used: never pickle). side: "t" (trusted) or "s" (student), the prefix of the ids it
    assigns. timeout: seconds to wait for the peer's reply (None: forever); deadline (a
    ``time.monotonic()`` value) may be set later and caps it.
    """

    def __init__(self, conn, side, policy=None, *, timeout=None):
        self.conn = conn
        self.side = side
        self.policy = policy or Policy()
        self.timeout = timeout
        self.deadline = None
        self.broken = None  # why the connection can no longer be used
        self._next = 0
        self.exported = {}  # handle id -> our object
        self._export_ids = {}  # id(our object) -> handle id
        self.proxies = {}  # peer's handle id -> Proxy
        self.depth = 0
        self.reset_links()

    # -- links ------------------------------------------------------------------------------
    def reset_links(self):
        self.links = {}  # link id -> object (array, list, dict)
        self._link_of = {}  # id(object) -> link id
        self._snap = {}  # link id -> state the peer has seen
        self._checked = 0  # what the sync checks of links cost since _release last looked
        self._walk_cost = 0  # what its last look cost (objects taken from its stack)

    def _new_id(self):
        self._next += 1
        return f"{self.side}{self._next}"

    @staticmethod
    def _state(obj):
        if type(obj) is np.ndarray:
            return (obj.shape, obj.dtype.str, obj.tobytes())
        if type(obj) is np.random.Generator:
            return json.dumps(_plain_state(obj.bit_generator.state), sort_keys=True)
        if type(obj) is dict:
            return tuple(obj.items())
        return tuple(obj)

    def _same(self, old, obj):
        new = self._state(obj)
        if type(obj) is np.ndarray or type(obj) is np.random.Generator:
            return old == new
        if len(old) != len(new):
            return False
        if type(obj) is dict:
            return all(a[0] is b[0] and a[1] is b[1] for a, b in zip(old, new, strict=True))
        return all(a is b for a, b in zip(old, new, strict=True))

    def _dirty(self, link):
        obj = self.links[link]
        return not self._same(self._snap[link], obj)

    def _check(self, link):
        """Whether ``link`` changed since the peer saw it, counting what the check costs
        towards the next walk (:meth:`_release`), in the units of a walk's step (0.4 µs
        here): 2 for a small array (copied and compared), and one more for every 4 KB of it
        or every 8 items of a list or dict."""
        obj, seen = self.links[link], self._snap[link]
        if type(obj) is np.ndarray:  # the common case, inline: _dirty(link)
            self._checked += 2 + obj.nbytes // 4096
            return seen != (obj.shape, obj.dtype.str, obj.tobytes())
        if type(seen) is tuple:  # a list's or dict's items
            self._checked += 2 + len(seen) // 8
        else:  # a Generator's state
            self._checked += 8
        return self._dirty(link)

    # -- encoding ---------------------------------------------------------------------------
    def roots(self):
        """What this side can still reach once it has no call running: the objects it has
        exported (the peer holds handles to them). A subclass adds its namespace."""
        return [self.exported]

    def _release(self):
        """Forget the links to objects that nothing on this side can reach from its roots
        (results no one kept, arguments no one stored): the peer is told, and drops them.

        Called only when this side replies to a request it did not make in a call of its own
        (``depth == 0``: the student's side between two requests of a test), so that no frame
        of this side holds objects the roots do not show. Forgetting a link is then invisible:
        no one on this side can read or change its object again. Nothing is forgotten when
        the walk gives up (:func:`_reachable`); keeping a link is always correct, only slower.

        A link kept costs a check in every message (:meth:`_check`); a walk costs what it
        visits. So a walk waits until the checks since the last one have cost as much as that
        walk did: the walks never cost more than the checks, and the checks of links no one
        needs cost at most as much as one walk between two walks (every reply in a small
        namespace, a batch of replies in a notebook's).
        """
        if not self.links or self._checked < self._walk_cost:
            return []
        self._checked = 0
        reached, self._walk_cost = _reachable(self.roots(),
                                              {id(obj) for obj in self.links.values()})
        if reached is None:
            return []
        forget = [k for k, obj in self.links.items() if id(obj) not in reached]
        for k in forget:
            obj = self.links.pop(k)
            self._link_of.pop(id(obj), None)
            self._snap.pop(k, None)
        return forget

    def encode_message(self, body, *, release=False):
        """One frame for ``body``, a dict of fields (each field value is encoded); with
        ``release``, it also tells the peer the links this side forgets (:meth:`_release`)."""
        blobs = []
        tree = {str(key): self._enc(value, blobs, 0) for key, value in body.items()}
        sync = [self._enc(self.links[k], blobs, 0) for k in list(self.links) if self._check(k)]
        # after the sync: a forgotten object's last changes still go
        forget = self._release() if release else []
        header = json.dumps(
            {"m": tree, "sync": sync, "forget": forget, "blobs": [len(b) for b in blobs]},
            allow_nan=True, separators=(",", ":"),
        ).encode()
        return b"".join([struct.pack("<I", len(header)), header, *blobs])

    def _enc(self, value, blobs, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"data nested more than {MAX_DEPTH} levels deep")
        value = self.policy.plain(value)
        t = type(value)
        if value is None or t is bool or t is int or t is float or t is str:
            if t is int and abs(value) >= 1 << 63:
                return {"$": "bigint", "v": str(value)}
            return value
        if t is bytes:
            blobs.append(value)
            return {"$": "bytes", "b": len(blobs) - 1}
        if t is tuple:
            return {"$": "tuple", "v": [self._enc(v, blobs, depth + 1) for v in value]}
        if t is np.ndarray and _dtype_ok(value.dtype) or t in (list, dict, np.random.Generator):
            return self._enc_linked(value, blobs, depth)
        if isinstance(value, np.generic) and _dtype_ok(value.dtype):
            dtype = _wire_dtype(value.dtype)
            blobs.append(np.asarray(value, dtype=dtype).tobytes())
            return {"$": "scalar", "dtype": dtype.str, "b": len(blobs) - 1}
        if isinstance(value, Proxy) and value._wire_endpoint is self:
            return {"$": "yours", "h": value._wire_handle}
        return self._enc_handle(value)

    def _enc_linked(self, value, blobs, depth):
        link = self._link_of.get(id(value))
        if link is not None and self.links.get(link) is value and not self._dirty(link):
            return {"$": "ref", "k": link}
        if link is None or self.links.get(link) is not value:
            link = self._new_id()
            self.links[link] = value
            self._link_of[id(value)] = link
        self._snap[link] = self._state(value)  # the peer will have this state
        if type(value) is np.ndarray:
            dtype = _wire_dtype(value.dtype)
            blobs.append(np.ascontiguousarray(value, dtype=dtype).tobytes())
            return {"$": "array", "k": link, "dtype": dtype.str, "shape": list(value.shape),
                    "b": len(blobs) - 1}
        if type(value) is list:
            return {"$": "list", "k": link, "v": [self._enc(v, blobs, depth + 1) for v in value]}
        if type(value) is np.random.Generator:
            state = value.bit_generator.state
            if state.get("bit_generator") not in BIT_GENERATORS:
                raise WireError(f"a Generator of {state.get('bit_generator')!r} cannot cross")
            return {"$": "rng", "k": link, "state": _plain_state(state)}
        items = [[self._enc(k, blobs, depth + 1), self._enc(v, blobs, depth + 1)]
                 for k, v in value.items()]
        return {"$": "dict", "k": link, "v": items}

    def _enc_handle(self, value):
        if not self.policy.export(value):
            raise WireError(f"a {type(value).__name__} object cannot be passed to the other side")
        # a bound method is made anew at every attribute read: one handle for one object's
        # one method, or a test that calls model.loss_and_grads 500 times exports 500
        key = _method_key(value) or id(value)
        handle = self._export_ids.get(key)
        if handle is None or not _same_export(self.exported.get(handle), value):
            handle = self._new_id()
            self.exported[handle] = value
            self._export_ids[key] = handle
        return {"$": "handle", "h": handle, "kind": proxy_kind(value),
                "type": str(self.policy.type_name(value))[:80]}

    # -- decoding ---------------------------------------------------------------------------
    def decode_message(self, frame):
        if len(frame) < 4:
            raise WireError("short frame")
        (n,) = struct.unpack("<I", frame[:4])
        if n > len(frame) - 4:
            raise WireError("bad header length")
        try:
            header = json.loads(frame[4:4 + n])
        except (ValueError, RecursionError) as err:  # RecursionError: nested too deeply
            raise WireError(f"bad header ({str(err)[:200]})") from None
        if type(header) is not dict or set(header) != {"m", "sync", "forget", "blobs"}:
            raise WireError("bad header")
        sizes = header["blobs"]
        if type(sizes) is not list or not all(type(s) is int and s >= 0 for s in sizes):
            raise WireError("bad blob table")
        if 4 + n + sum(sizes) != len(frame):
            raise WireError("frame length does not match its blobs")
        blobs, pos = [], 4 + n
        for size in sizes:
            blobs.append(frame[pos:pos + size])
            pos += size
        if type(header["sync"]) is not list:
            raise WireError("bad sync list")
        body = header["m"]
        if type(body) is not dict:
            raise WireError("a message must be a dict of fields")
        message = {key: self._dec(value, blobs, 0) for key, value in body.items()}
        for item in header["sync"]:
            self._dec(item, blobs, 0)
        forget = header["forget"]
        if type(forget) is not list:
            raise WireError("bad forget list")
        for link in forget:
            obj = self.links.pop(link, None) if type(link) is str else None
            if obj is not None:
                self._link_of.pop(id(obj), None)
                self._snap.pop(link, None)
        return message

    def _dec(self, tree, blobs, depth):
        if depth > MAX_DEPTH:
            raise WireError("data nested too deeply")
        t = type(tree)
        if tree is None or t is bool or t is int or t is float or t is str:
            return tree
        if t is list:  # message bodies are dicts of fields; bare JSON lists never occur
            raise WireError("bare list in message")
        if t is not dict or type(tree.get("$")) is not str:
            raise WireError("bad value")
        kind = tree["$"]
        if kind == "bigint":
            try:  # int() refuses more than 4300 digits (sys.get_int_max_str_digits)
                return int(_field(tree, "v", str))
            except ValueError:
                raise WireError("bad bigint") from None
        if kind == "bytes":
            return bytes(_blob(tree, blobs))
        if kind == "tuple":
            return tuple(self._dec(v, blobs, depth + 1) for v in _field(tree, "v", list))
        if kind == "scalar":
            dtype = _dtype(tree)
            data = _blob(tree, blobs)
            if len(data) != dtype.itemsize:
                raise WireError("bad scalar")
            return np.frombuffer(data, dtype=dtype)[0].astype(dtype.newbyteorder("="))
        if kind == "ref":
            link = _field(tree, "k", str)
            if link not in self.links:
                raise WireError("reference to an unknown link")
            return self.links[link]
        if kind in ("array", "list", "dict", "rng"):
            return self._dec_linked(kind, tree, blobs, depth)
        if kind == "handle":
            handle = _field(tree, "h", str)
            if handle.startswith(self.side):
                raise WireError("a handle of ours sent as the peer's")
            proxy = self.proxies.get(handle)
            if proxy is None:
                ptype = _field(tree, "type", str)[:80]
                pkind = _field(tree, "kind", str)
                proxy = Proxy(self, handle, pkind if pkind in ("callable", "iterator") else
                              "object", ptype)
                self.proxies[handle] = proxy
            return proxy
        if kind == "yours":
            handle = _field(tree, "h", str)
            if handle not in self.exported:
                raise WireError("unknown handle")
            return self.exported[handle]
        raise WireError(f"unknown value kind {kind[:20]!r}")

    def _dec_linked(self, kind, tree, blobs, depth):
        link = _field(tree, "k", str)
        if kind == "array":
            dtype = _dtype(tree)
            shape = _field(tree, "shape", list)
            if len(shape) > 32 or not all(type(s) is int and s >= 0 for s in shape):
                raise WireError("bad shape")
            data = _blob(tree, blobs)
            count = 1
            for s in shape:
                count *= s
            if count * dtype.itemsize != len(data):
                raise WireError("array data does not match its shape")
            try:  # a shape numpy cannot hold, even of no elements ([0, 2**40, 2**40])
                new = np.frombuffer(data, dtype=dtype).reshape(shape).astype(
                    dtype.newbyteorder("="), copy=True)
            except ValueError as err:
                raise WireError(f"bad array ({str(err)[:100]})") from None
        elif kind == "list":
            new = [self._dec(v, blobs, depth + 1) for v in _field(tree, "v", list)]
        elif kind == "rng":
            state = _field(tree, "state", dict)
            new = _generator(state)
        else:
            new = {}
            for pair in _field(tree, "v", list):
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("bad dict item")
                key = self._dec(pair[0], blobs, depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise WireError("unhashable dict key") from None
                if isinstance(key, Proxy):
                    raise WireError("a dict key must be plain data")
                new[key] = self._dec(pair[1], blobs, depth + 1)
        old = self.links.get(link)
        if old is not None and type(old) is type(new):
            if type(old) is np.random.Generator:
                old.bit_generator.state = new.bit_generator.state
                new = old
            elif type(old) is np.ndarray:
                if old.shape == new.shape and old.dtype == new.dtype:
                    old[...] = new
                    new = old
            elif type(old) is list:
                old[:] = new
                new = old
            else:
                old.clear()
                old.update(new)
                new = old
        if new is not old:
            if link[:1] == self.side and old is not None:
                # the peer resized one of our arrays: keep ours, the peer's view is its own
                return new
            self.links[link] = new
            self._link_of[id(new)] = link
        self._snap[link] = self._state(new)
        return new

    # -- calls ------------------------------------------------------------------------------
    def send(self, body):
        frame = self.encode_message(body)
        if len(frame) > MAX_FRAME:
            raise WireError(f"message of {len(frame)} bytes is too large")
        try:
            self.conn.send_bytes(frame)
        except (OSError, EOFError, ValueError) as err:
            self.broken = f"connection lost ({type(err).__name__})"
            raise PeerGone(self.broken) from None

    def receive(self):
        import time

        if self.broken:
            raise PeerGone(self.broken)
        wait = self.timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            wait = left if wait is None else min(wait, left)
        try:
            if wait is not None and not self.conn.poll(max(0.0, wait)):
                self.broken = "no answer in time"
                raise PeerGone(self.broken)
            frame = self.conn.recv_bytes(MAX_FRAME)
        except (OSError, EOFError) as err:
            self.broken = f"connection lost ({type(err).__name__})"
            raise PeerGone(self.broken) from None
        return self.decode_message(frame)

    def request(self, op, **fields):
        """Send request ``op`` and return its result, serving the peer's requests meanwhile."""
        if self.depth >= MAX_DEPTH:
            raise RecursionError("calls between the two sides nested too deeply")
        self._next += 1
        rid = self._next
        self.send({"op": op, "id": rid, **fields})
        self.depth += 1
        try:
            while True:
                message = self.receive()
                if "re" in message:
                    if message["re"] != rid:
                        raise WireError("reply to a request that is not waiting")
                    return self._result(message)
                if message.get("op") == "done":
                    self.broken = "the other side ended the session"
                    raise PeerGone(self.broken)
                self.serve_one(message)
        finally:
            self.depth -= 1

    def _result(self, message):
        if "ok" in message:
            return message["ok"]
        err = message.get("err")
        if type(err) is not dict:
            raise WireError("bad reply")
        name = str(err.get("type", "Error"))[:100]
        text = str(err.get("message", ""))[:20000]
        trace = str(err.get("trace", ""))[:20000]
        cls = EXCEPTIONS.get(name)
        if cls is StopIteration:
            raise StopIteration
        if cls is not None:
            exc = cls(text)
            exc.remote_trace = trace
            raise exc
        raise RemoteError(name, text, trace)

    def serve_one(self, message):
        """Serve one request of the peer and send the reply (a result or an error)."""
        rid = message.get("id")
        frame = None
        release = self.depth == 0  # a request of the peer's, not a callback within ours
        try:
            frame = self.encode_message({"re": rid, "ok": self.dispatch(message)},
                                        release=release)
        except PeerGone:
            raise
        except (KeyboardInterrupt, SystemExit) as exc:
            if self.side == "t":
                raise
            error = self.describe(exc)
        except BaseException as exc:  # reported to the peer, not swallowed
            error = self.describe(exc)
        if frame is None:
            frame = self.encode_message({"re": rid, "err": error}, release=release)
        try:
            self.conn.send_bytes(frame)
        except (OSError, EOFError, ValueError) as err:
            self.broken = f"connection lost ({type(err).__name__})"
            raise PeerGone(self.broken) from None

    def describe(self, exc):
        return {"type": type(exc).__name__, "message": str(exc)[:20000]}

    def dispatch(self, message):
        op = message.get("op")
        if op == "lookup":
            return self.lookup(_field(message, "name", str))
        if op in ("bind", "unbind"):  # a test cell rebinds or deletes a name of this side's
            return self.bind(_field(message, "name", str), op == "bind", message.get("value"))
        obj = self.exported.get(message.get("h"))
        if obj is None:
            raise WireError("unknown handle")
        name = message.get("name")
        if not self.policy.allowed(op, obj, name):
            raise AttributeError(f"{op} {name or ''} is not allowed on a "
                                 f"{self.policy.type_name(obj)}")
        if op == "call":
            args, kwargs = message.get("args"), message.get("kwargs")
            if type(args) is not tuple or type(kwargs) is not tuple or not all(
                    type(kv) is tuple and len(kv) == 2 and type(kv[0]) is str for kv in kwargs):
                raise WireError("bad call")
            return obj(*args, **dict(kwargs))
        if op == "getattr":
            return self.policy.getattr_result(obj, name, getattr(obj, _field(message, "name",
                                                                             str)))
        if op == "setattr":
            setattr(obj, _field(message, "name", str), message.get("value"))
            return None
        if op == "getitem":
            return obj[message.get("key")]
        if op == "setitem":
            obj[message.get("key")] = message.get("value")
            return None
        if op == "len":
            return len(obj)
        if op == "iter":
            return iter(obj)
        if op == "next":
            return next(obj)
        if op in ("repr", "str"):
            return str(self.policy.text(obj, op))[:2000]
        raise WireError(f"unknown request {str(op)[:20]!r}")

    def lookup(self, name):
        raise NameError(name)

    def bind(self, name, bind, value):
        """Bind ``name`` to ``value`` (bind False: delete it) until the session ends."""
        raise WireError("names are not rebound on this side")


def _method_key(value):
    """(id of its object, id of its function) for a bound method of a Python function."""
    t = type(value)  # types.MethodType, by name: nothing else is looked at
    if t.__name__ != "method" or t.__module__ != "builtins":
        return None
    return (id(value.__self__), id(value.__func__))


def _same_export(old, value):
    if old is value:
        return True
    key = _method_key(value)
    return key is not None and _method_key(old) == key and old.__self__ is value.__self__ \
        and old.__func__ is value.__func__


# objects _reachable does not look into: their contents are no data of the student's (an
# IPython shell in the namespace would take the walk through all of IPython; a notebook's
# figures and widgets hold tens of thousands of objects). An array a test passed that the
# student's code keeps only inside a plot is forgotten: a later change to it is not synced
# (docs/threat-model.md, 2.)
_OPAQUE_MODULES = ("IPython", "ipykernel", "traitlets", "zmq", "jupyter_client", "tornado",
                   "asyncio", "logging", "threading", "multiprocessing", "socket", "_io", "io",
                   "matplotlib", "mpl_toolkits", "ipywidgets", "comm", "PIL", "weakref")
_REACH_BUDGET = 200_000  # objects looked at before _reachable gives up


def _reachable(roots, wanted):
    """The ids among ``wanted`` of the objects reachable from ``roots`` through containers
    (list, tuple, set, dict values), instances' ``__dict__`` and slots, classes' attributes,
    functions' closures and defaults, bound methods and suspended generators' locals; None
    if the walk gives up (more than _REACH_BUDGET objects, or one that fails to show its
    contents), and what the walk cost: the number of objects it took from its stack (each
    object once for every way it is held). Modules, arrays and the objects of
    _OPAQUE_MODULES are not looked into."""
    import types

    found, seen, stack, steps = set(), set(), list(roots), 0
    leaves = (str, bytes, bytearray, int, float, complex, bool, type(None), np.ndarray,
              np.generic, np.random.Generator, types.ModuleType, types.BuiltinFunctionType,
              Proxy, Endpoint)
    try:
        while stack:
            obj = stack.pop()
            steps += 1
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if len(seen) > _REACH_BUDGET:
                return None, steps
            if id(obj) in wanted:
                found.add(id(obj))
                if len(found) == len(wanted):
                    break
            stack.extend(_contents(obj, leaves, types))
    except Exception:  # an object that cannot be looked into: keep every link
        return None, steps
    return found, steps


def _contents(obj, leaves, types):
    """What _reachable looks at next from ``obj``."""
    t = type(obj)
    if t is np.ndarray and obj.dtype.kind == "O":
        return obj.reshape(-1).tolist()
    if isinstance(obj, leaves):
        return ()
    if t in (list, tuple, set, frozenset):
        return obj
    if t is dict:
        return obj.values()
    if t is types.FunctionType:
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        return [*cells, *(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()]
    if t is types.MethodType:
        return (obj.__func__, obj.__self__)
    if t is types.GeneratorType:
        return obj.gi_frame.f_locals.values() if obj.gi_frame is not None else ()
    module = getattr(t if not isinstance(obj, type) else obj, "__module__", None)
    if type(module) is not str or module == "builtins" or module.startswith(_OPAQUE_MODULES):
        return ()
    if isinstance(obj, type):  # a class: its attributes (class-level state)
        return list(obj.__dict__.values())
    out = []
    if isinstance(obj, dict):  # a subclass: its items, then its attributes
        out.extend(dict.values(obj))
    elif isinstance(obj, (list, tuple, set, frozenset)):
        out.extend(obj)
    try:
        out.extend(object.__getattribute__(obj, "__dict__").values())
    except AttributeError:
        pass
    for klass in t.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__"):
                try:
                    out.append(object.__getattribute__(obj, slot))
                except AttributeError:
                    pass
    return out


# bit generators a Generator may be built on when it crosses (looked up here, not by name)
BIT_GENERATORS = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}


def _plain_state(state):
    """A bit generator's state as JSON data (arrays become lists of ints)."""
    if isinstance(state, dict):
        return {str(k): _plain_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return [int(v) for v in state.reshape(-1)]
    if isinstance(state, (bool, np.bool_)):
        return bool(state)
    if isinstance(state, (int, np.integer)):
        return int(state)
    if isinstance(state, str):
        return state
    raise WireError(f"a generator state holds a {type(state).__name__}")


def _generator(state):
    """A new Generator in ``state`` (validated by numpy; anything odd is a WireError)."""
    cls = BIT_GENERATORS.get(state.get("bit_generator"))
    if cls is None:
        raise WireError("unknown bit generator")

    def check(value, depth=0):
        if depth > 4:
            raise WireError("bad generator state")
        if isinstance(value, dict):
            for v in value.values():
                check(v, depth + 1)
        elif isinstance(value, list):
            if len(value) > 1000 or not all(type(v) is int for v in value):
                raise WireError("bad generator state")
        elif type(value) not in (int, str, bool):
            raise WireError("bad generator state")

    check(state)
    gen = np.random.Generator(cls())
    state = dict(state)
    if state["bit_generator"] == "MT19937" and isinstance(state.get("state"), dict):
        inner = dict(state["state"])
        inner["key"] = np.array(inner.get("key", []), dtype=np.uint32)
        state["state"] = inner
    try:
        gen.bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise WireError(f"bad generator state ({err})") from None
    return gen


def _field(tree, key, kind):
    value = tree.get(key)
    if type(value) is not kind:
        raise WireError(f"bad field {key!r}")
    return value


def _blob(tree, blobs):
    index = _field(tree, "b", int)
    if not 0 <= index < len(blobs):
        raise WireError("bad blob index")
    return blobs[index]


def _dtype(tree):
    text = _field(tree, "dtype", str)
    if len(text) > 8:
        raise WireError("bad dtype")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise WireError(f"bad dtype {text!r}") from None
    if not _dtype_ok(dtype) or dtype.fields is not None or dtype.shape != ():
        raise WireError(f"dtype {text!r} cannot cross")
    return dtype
