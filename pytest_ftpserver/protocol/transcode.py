"""TYPE A (ASCII) line-ending conversion, chunk by chunk.

Network ASCII ends lines with CRLF (RFC 959 3.1.1.1); files here end them with LF. A CR at
the end of one chunk may pair with an LF at the start of the next, so both converters hold
back a trailing CR until they see what follows.
"""

from __future__ import annotations


class _LineEndConverter:
    __slots__ = ("_pending_cr",)

    def __init__(self) -> None:
        self._pending_cr = False

    def feed(self, chunk: bytes) -> bytes:
        """Convert one chunk; a trailing CR is held back until the next chunk or flush."""
        if self._pending_cr:
            chunk = b"\r" + chunk
            self._pending_cr = False
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
            self._pending_cr = True
        return self._convert(chunk)

    def flush(self) -> bytes:
        """What is still held back at the end of the transfer (a lone CR, or nothing)."""
        if self._pending_cr:
            self._pending_cr = False
            return b"\r"
        return b""

    @staticmethod
    def _convert(chunk: bytes) -> bytes:
        raise NotImplementedError


class ToNetworkAscii(_LineEndConverter):
    """LF or CRLF line ends in a file become CRLF on the wire."""

    __slots__ = ()

    @staticmethod
    def _convert(chunk: bytes) -> bytes:
        return chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class FromNetworkAscii(_LineEndConverter):
    """CRLF on the wire becomes LF in the file; a lone CR is kept as it is."""

    __slots__ = ()

    @staticmethod
    def _convert(chunk: bytes) -> bytes:
        return chunk.replace(b"\r\n", b"\n")
