"""The ctypes helpers every system module uses: arguments converted for C, a failed status turned
into :class:`~ergon.ErgonError` with the library's message, ask-the-length-then-fill outputs, and
native handles (:class:`Handle`, read and released at once, and :class:`Owner`, the base of the
Python classes that keep one).

Handles follow the naming rule of the C ABI: a handle of kind ``"perseus_frontier"`` is a
``struct ergon_perseus_frontier *``, its calls are ``ergon_perseus_frontier_<verb>``, and it has
``ergon_perseus_frontier_last_error`` and ``ergon_perseus_frontier_free``. The helpers take the
verb (``h.call("solve")``) and derive the rest.
"""

from __future__ import annotations

import ctypes
import operator
import os
import threading
import weakref
from ctypes import byref, c_char, c_size_t
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

from ._errors import ErgonError, Status
from ._library import lib, track

PathLike = Union[str, "os.PathLike[str]"]
"""A file name: ``str`` or any ``os.PathLike``."""

Text = Union[str, bytes, bytearray, memoryview]
"""A document given as text: ``str`` (encoded as UTF-8) or bytes."""

SIZE_T_BITS = ctypes.sizeof(c_size_t) * 8
"""Width of the C ``size_t`` that indices and counts are passed as."""

# --- arguments ---------------------------------------------------------------------------------


def index(
    value: Any,
    name: str,
    bits: int = SIZE_T_BITS,
    status: Status = Status.OUT_OF_RANGE,
) -> int:
    """``value`` as an int that fits an unsigned C integer of ``bits`` bits.

    ctypes converts a Python int to ``c_size_t``, ``c_uint32`` or ``c_uint64`` modulo 2**bits,
    silently: 2**64 + 5 would become 5. Every int the package hands to the C library goes
    through here first.

    Raises:
        TypeError: for a bool or a value without ``__index__`` (a float, a string...), as the
            package does for every argument of the wrong type.
        ErgonError: ``status`` (``OUT_OF_RANGE`` unless the caller says otherwise) for a
            negative value or one of 2**bits or more; the message names ``name`` and the range.
    """
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    v = operator.index(value)
    if not 0 <= v < 1 << bits:
        raise ErgonError(status, f"{name} = {v} is out of range (0 to 2**{bits} - 1)")
    return v


def u32(value: Any, what: str) -> int:
    """A ``uint32_t`` argument (``INVALID_ARGUMENT`` when out of range)."""
    return index(value, what, 32, Status.INVALID_ARGUMENT)


def as_bytes(text: Text, what: str) -> bytes:
    """A document's bytes: ``str`` encoded as UTF-8, bytes-like objects as they are."""
    if isinstance(text, str):
        return text.encode("utf-8")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"{what} must be str or bytes, not {type(text).__name__}")


def utf8(value: Any, what: str) -> bytes:
    """A name (``str`` only) as UTF-8 bytes, for a pointer-and-length string argument."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value.encode("utf-8")


def read_file(path: PathLike, what: str) -> bytes:
    """A file's bytes (``INVALID_ARGUMENT`` naming the file if it cannot be read)."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ErgonError(
            Status.INVALID_ARGUMENT, f"cannot read the {what} {os.fspath(path)!r}: {e}"
        ) from e


# --- outputs: ask the length, then fill ---------------------------------------------------------

ErrorOf = Callable[[int], ErgonError]
"""Turns a failed status into the exception to raise (with the right last-error message)."""


def fill(
    fn: Callable[..., int],
    head: Sequence[Any],
    item_types: Sequence[Any],
    error: ErrorOf,
    spare: int = 0,
) -> Tuple[List[Any], int]:
    """Calls ``fn(*head, buf..., cap, &len)`` twice: with no buffers for the length, then with
    one array of each of ``item_types`` (``spare`` more items than the length, for a NUL).
    Returns the arrays and the length.

    Raises:
        ErgonError: ``error(status)`` for a failed call.
    """
    n = c_size_t(0)
    status = fn(*head, *(None,) * len(item_types), 0, byref(n))
    if not status:
        cap = n.value + spare
        bufs = [(t * cap)() for t in item_types]
        status = fn(*head, *bufs, cap, byref(n))
        if not status:
            return bufs, n.value
    raise error(status)


def read_text(fn: Callable[..., int], *head: Any, error: ErrorOf) -> str:
    """A text output (``char *buf, size_t cap, size_t *len``), decoded as UTF-8."""
    (buf,), n = fill(fn, head, (c_char,), error, spare=1)
    raw: bytes = buf.raw[:n]
    return raw.decode("utf-8", "replace")


def read_list(fn: Callable[..., int], item_type: Any, *head: Any, error: ErrorOf) -> List[Any]:
    """An array output (``T *buf, size_t cap, size_t *len``) as a list."""
    (buf,), n = fill(fn, head, (item_type,), error)
    return list(buf[:n])


class _Unreadable(Exception):
    """The last-error message itself could not be read."""


def _unreadable(status: int) -> ErgonError:
    raise _Unreadable(status)


def _message(fn: Callable[..., int], *head: Any) -> str:
    """A last-error message; empty if even that call fails."""
    try:
        return read_text(fn, *head, error=_unreadable)
    except _Unreadable:
        return ""


def thread_error(status: int) -> ErgonError:
    """The error of a failed call without a handle (this thread's ``ergon_last_error``)."""
    return ErgonError(status, _message(lib().ergon_last_error))


def check(status: int) -> None:
    """Raises :func:`thread_error` for a failed call without a handle."""
    if status:
        raise thread_error(status)


def closed_error(what: str) -> ErgonError:
    """The error of any use of a closed object."""
    return ErgonError(Status.INVALID_STATE, f"the {what} is closed")


# --- handles -----------------------------------------------------------------------------------


def _out_handle(fn: Any, args: Sequence[Any], kind: str, error: ErrorOf) -> "Handle":
    """Calls ``fn(*args, &out)`` whose last argument receives a new handle of ``kind``."""
    out = fn.argtypes[-1]._type_()  # the declared `struct ergon_<kind> **` names the type
    status = fn(*args, byref(out))
    if status:
        raise error(status)
    return Handle(kind, out)


def make(fn_name: str, kind: str, *args: Any) -> "Handle":
    """A new handle of ``kind`` from the constructor ``fn_name`` (``fn(*args, &out)``; its
    errors are in the thread's ``ergon_last_error``)."""
    return _out_handle(getattr(lib(), fn_name), args, kind, thread_error)


class Handle:
    """One native handle of ``kind`` (see the module documentation), counted in
    :func:`ergon.live_handles` until :meth:`free`. As a context manager it is freed at the end of
    the block: how results are read completely and released at once."""

    __slots__ = ("kind", "ptr", "_lib")

    def __init__(self, kind: str, ptr: Any) -> None:
        self.kind = kind
        self.ptr = ptr
        self._lib = lib()
        track(kind, +1)

    def fn(self, verb: str) -> Any:
        """The declared function ``ergon_<kind>_<verb>``."""
        return getattr(self._lib, f"ergon_{self.kind}_{verb}")

    def last_error(self) -> str:
        """The message in the handle's last-error slot (``ergon_<kind>_last_error``)."""
        return _message(self.fn("last_error"), self.ptr)

    def error(self, status: int) -> ErgonError:
        """The error of a failed call on this handle, with its last-error message."""
        return ErgonError(status, self.last_error())

    def call(self, verb: str, *args: Any) -> None:
        """``ergon_<kind>_<verb>(handle, *args)``; raises on failure."""
        status = self.fn(verb)(self.ptr, *args)
        if status:
            raise self.error(status)

    def get(self, verb: str, out_type: Any, *args: Any) -> Any:
        """The output of ``ergon_<kind>_<verb>(handle, *args, &out)`` (a struct, or a ctypes
        scalar: read its ``.value``)."""
        out = out_type()
        self.call(verb, *args, byref(out))
        return out

    def make(self, verb: str, kind: str, *args: Any) -> "Handle":
        """A new handle of ``kind`` from ``ergon_<kind>_<verb>(handle, *args, &out)``."""
        return _out_handle(self.fn(verb), (self.ptr, *args), kind, self.error)

    def text(self, verb: str, *args: Any) -> str:
        """A text output of ``ergon_<kind>_<verb>(handle, *args, buf, cap, &len)``."""
        return read_text(self.fn(verb), self.ptr, *args, error=self.error)

    def list(self, verb: str, item_type: Any, *args: Any) -> List[Any]:
        """An array output of ``ergon_<kind>_<verb>(handle, *args, buf, cap, &len)``."""
        return read_list(self.fn(verb), item_type, self.ptr, *args, error=self.error)

    def free(self) -> None:
        """Releases the handle (once: it is a finalizer's callback, or a block's end)."""
        try:
            self.fn("free")(self.ptr)
        finally:
            track(self.kind, -1)

    def __enter__(self) -> "Handle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


_O = TypeVar("_O", bound="Owner")


class Owner:
    """Base of every class that keeps a native handle: :meth:`close`, ``closed``, the
    context-manager protocol, a lock serializing the calls (the C ABI forbids concurrent use of
    a handle), release by a ``weakref.finalize`` (also at interpreter exit), ``INVALID_STATE``
    for any use after closing, and refusing copies and pickling.

    Subclasses call :meth:`_own` once with their handle and make their calls through
    :meth:`_live` (with ``_lock`` held) or the ``_call``/``_get``/``_text``/``_list`` shortcuts.
    """

    __slots__ = ("_h", "_lock", "_finalizer", "__weakref__")
    _what: ClassVar[str] = "handle"
    """The object as error messages name it (``"the frontier is closed"``)."""

    _h: Optional[Handle]
    _finalizer: "weakref.finalize[Any, Any]"

    def _own(self, handle: Handle) -> None:
        self._lock = threading.RLock()
        self._h = handle
        self._finalizer = weakref.finalize(self, handle.free)

    def close(self) -> None:
        """Releases the native handle now. Closing twice is fine; any other use afterwards
        raises :class:`~ergon.ErgonError` (``INVALID_STATE``)."""
        with self._lock:
            self._h = None
            self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether the handle has been released."""
        return not self._finalizer.alive

    def _live(self) -> Handle:
        """The live handle; raises if closed. Call with ``_lock`` held (``close`` clears it
        under the lock before freeing)."""
        h = self._h
        if h is None:
            raise closed_error(self._what)
        return h

    def _call(self, verb: str, *args: Any) -> None:
        with self._lock:
            self._live().call(verb, *args)

    def _get(self, verb: str, out_type: Any, *args: Any) -> Any:
        with self._lock:
            return self._live().get(verb, out_type, *args)

    def _text(self, verb: str, *args: Any) -> str:
        with self._lock:
            return self._live().text(verb, *args)

    def _list(self, verb: str, item_type: Any, *args: Any) -> List[Any]:
        with self._lock:
            return self._live().list(verb, item_type, *args)

    def __enter__(self: _O) -> _O:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refuse(self, what: str) -> TypeError:
        name = type(self).__name__
        article = "an" if name[0] in "AEIOU" else "a"
        return TypeError(f"{article} {name} owns a native handle and cannot be {what}")

    def __copy__(self) -> Any:
        raise self._refuse("copied")

    def __deepcopy__(self, memo: Dict[int, Any]) -> Any:
        raise self._refuse("copied")

    def __reduce__(self) -> Any:
        raise self._refuse("pickled")
