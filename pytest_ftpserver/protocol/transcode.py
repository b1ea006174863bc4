"""TYPE A (ASCII) line-ending conversion, chunk by chunk.

Network ASCII ends lines with CRLF (RFC 959 3.1.1.1); files here end them with LF. A CR at
the end of one chunk may pair with an LF at the start of the next, so both converters hold
back a trailing CR until they see what follows.
"""

from __future__ import annotations


class ToNetworkAscii:
    """LF or CRLF line ends in a file become CRLF on the wire."""

    __slots__ = ("_pending_cr",)

    def __init__(self) -> None:
        self._pending_cr = False

    def feed(self, chunk: bytes) -> bytes:
        """The converted chunk; a trailing CR is held back until the next call."""
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._pending_cr = True
        return chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def flush(self) -> bytes:
        """What is still held back, at the end of the data."""
        if self._pending_cr:
            self._pending_cr = False
            return b"\r"
        return b""


class FromNetworkAscii:
    """CRLF on the wire becomes LF in the file; a lone CR is kept as it is."""

    __slots__ = ("_pending_cr",)

    def __init__(self) -> None:
        self._pending_cr = False

    def feed(self, chunk: bytes) -> bytes:
        """The converted chunk; a trailing CR is held back until the next call."""
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._pending_cr = True
        return chunk.replace(b"\r\n", b"\n")

    def flush(self) -> bytes:
        """What is still held back, at the end of the data."""
        if self._pending_cr:
            self._pending_cr = False
            return b"\r"
        return b""
