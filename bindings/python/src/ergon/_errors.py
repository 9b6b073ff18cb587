"""Status codes of the C ABI and the exceptions the package raises."""

from __future__ import annotations

import ctypes
import enum
import operator
from typing import Any, List, Optional


class Status(enum.IntEnum):
    """The ``ergon_status`` codes of ``ergon.h`` (codes are never reused)."""

    OK = 0
    """Success."""
    INVALID_ARGUMENT = 1
    """An argument is out of its domain (NaN, negative, unknown constant, zero length...)."""
    NULL_POINTER = 2
    """A required pointer is NULL or misaligned, or a handle is not of the expected type."""
    PARSE = 3
    """A document could not be parsed (JSON syntax, CSV shape, not UTF-8)."""
    SCHEMA = 4
    """A document names another schema."""
    INVALID_PROBLEM = 5
    """The problem is invalid (a profile, row, node or edge is wrong; see the message)."""
    NOT_SOLVED = 6
    """The call needs a solved frontier and the frontier is not solved yet."""
    INVALID_STATE = 7
    """The call is not valid in the handle's state (also: the Python object is closed)."""
    OUT_OF_RANGE = 8
    """An index is beyond the end."""
    BUFFER_TOO_SMALL = 9
    """A caller buffer is too small."""
    DEADLINE = 10
    """No plan meets the deadline."""
    OVERFLOW = 11
    """The numbers are too large for the solver's fixed-point arithmetic."""
    PANIC = 12
    """An internal error (a bug in the library)."""
    NVML_UNAVAILABLE = 13
    """The NVML library could not be loaded; the message names every path tried."""
    GPU = 14
    """A GPU operation failed (an NVML call, the GPU state file, a restore); see the message."""


class ErgonError(Exception):
    """A call into Ergon failed.

    Attributes:
        status: the :class:`Status` (an ``int``) the library returned, or the one that describes
            an argument the Python layer rejected before calling it.
        status_name: the status's name, e.g. ``"DEADLINE"``.
        message: the library's message (from ``ergon_perseus_frontier_last_error`` or
            ``ergon_last_error``), or the Python layer's.
    """

    status: Status
    status_name: str
    message: str

    def __init__(self, status: int, message: str) -> None:
        try:
            self.status = Status(status)
            self.status_name = self.status.name
        except ValueError:  # a code newer than this package
            self.status = status  # type: ignore[assignment]
            self.status_name = f"UNKNOWN_{status}"
        self.message = message or "(no message)"
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} [{self.status_name}]"

    def __repr__(self) -> str:
        return f"ErgonError({self.status_name}, {self.message!r})"


class LibraryNotFoundError(OSError):
    """``libergon.so`` could not be found or loaded (see :func:`ergon.library_path`)."""

    def __init__(self, message: str, tried: Optional[List[str]] = None) -> None:
        self.tried = list(tried or [])
        super().__init__(message)


SIZE_T_BITS = ctypes.sizeof(ctypes.c_size_t) * 8
"""Width of the C ``size_t`` that indices and counts are passed as."""


def _index(
    value: Any,
    name: str,
    bits: int = SIZE_T_BITS,
    status: "Status" = Status.OUT_OF_RANGE,
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
