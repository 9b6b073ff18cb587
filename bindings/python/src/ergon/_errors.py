"""Status codes of the C ABI and the exceptions the package raises."""

from __future__ import annotations

import enum
from typing import List, Optional


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


class LibraryVersionError(LibraryNotFoundError):
    """The library found implements another C ABI version than this package was written for
    (``found`` is ``None`` when it has no ``ergon_abi_version`` at all: a library from before
    ABI version 2, or not libergon). The library is refused rather than called with mismatched
    declarations."""

    def __init__(self, path: str, found: Optional[int], needed: int) -> None:
        self.path = path
        self.found = found
        self.needed = needed
        if found is None:
            message = (
                f"libergon at {path} has no ergon_abi_version symbol (it predates ABI version "
                f"2, or is not libergon); this ergon package needs ABI version {needed}"
            )
        else:
            message = (
                f"libergon at {path} has ABI version {found}; this ergon package needs ABI "
                f"version {needed}"
            )
        super().__init__(message, [path])
