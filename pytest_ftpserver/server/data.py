"""Data channels: one protocol object per data connection, passive and active."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Callable

from .throttle import ThrottleGroup

# Bytes read from the socket per callback. Large blocks cut the per-block cost that
# dominates a Python server's throughput; 1 MiB matched the best STOR rate we measured.
RECEIVE_BUFFER = 1 << 20
# Bytes queued from the socket before reading pauses, when a consumer reads with await.
_HIGH_WATER = 4 << 20


# splice(2) moves upload bytes socket -> pipe -> file inside the kernel: one copy instead of
# the two of recv + write, which is what bounds a Python server's STOR rate.
_CAN_SPLICE = hasattr(os, "splice")
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# Socket reads per readiness callback, so that one fast upload cannot starve the others.
_SPLICES_PER_WAKEUP = 16
_SENDFILE_BLOCK = 64 * 1024
# Two blocks per writability wake-up: half the loop turns of one, and still little data in
# flight. A 256 MiB RETR measured (paired ratio to pyftpdlib, 7 A/B runs of 7 rounds)
# 0.82-0.97 with one call, 0.93-1.23 (median 1.07) with two; four varied more
# (0.76-1.19), and session 1 found many calls per wake-up up to 2x slower.
_SENDFILE_CALLS_PER_WAKEUP = 2
_SMALL_FILE = 4 << 20
_SMALL_FILE_BLOCK = 512 * 1024


# A socket transport starts reading in the loop turn after it is made. Until CPython fixed
# gh-103607 (3.12, and a 3.11 bugfix release after 3.11.2: Python 3.10 and Debian 12's
# 3.11.2 have it), that deferred add_reader ignored a pause_reading() that came first, and
# the bytes of a spliced upload or a TLS ClientHello were read as plain data.
# DataConnection.connection_made re-applies the pause after that turn, on every version:
# a no-op where the pause holds already.


def direct_transports(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` can wrap an accepted socket in a transport in one plain call.

    CPython's selector loops have ``_make_socket_transport`` (private, but in every
    release since 3.4); the public ways (``create_server``, ``connect_accepted_socket``)
    cost a coroutine, a task to run it and a future per connection. Other loops (uvloop)
    take the public way.
    """
    return isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop) and hasattr(
        loop, "_make_socket_transport"
    )


class DataConnectionClosed(ConnectionError):
    """The peer closed or reset the data connection before the transfer ended."""


class DataConnection(asyncio.BufferedProtocol):
    """One data connection.

    Received bytes go either straight to a synchronous ``sink`` (uploads to local files or
    memory: no task and no copy per block) or to a queue read with :meth:`read`.
    """

    def __init__(self, *, pause: bool = False) -> None:
        # pause: read nothing until start_tls takes over, so that a TLS ClientHello that
        # arrives at once (curl, lftp) is not taken for plain data.
        self.pause_on_connect = pause
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer: memoryview | None = None
        self._read_size = RECEIVE_BUFFER
        self._chunks: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._reader_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused_writing = False
        self._reading_paused = False
        self.eof = False
        self.sink: Callable[[memoryview], None] | None = None
        self.sink_error: BaseException | None = None
        self.throttle: ThrottleGroup | None = None
        self._throttled_until = 0.0  # loop time; see set_throttle
        self.limit: int | None = None  # close after this many received bytes (fault "cut")
        self.received = 0
        self.tls = False  # True once the TLS handshake on this connection is done
        # Under TLS, the TCP transport beneath: it knows at once when the peer has gone,
        # while the TLS transport learns it loop turns later (see write()).
        self.tcp_transport: asyncio.Transport | None = None
        self.handshake: asyncio.Task[DataConnection] | None = None  # started on accept
        # An accepted socket not yet wrapped in a transport (see attach()): listings are
        # written straight to it, and most never need a transport at all.
        self.raw: socket.socket | None = None
        self._raw_peer: object = None
        self.error: Exception | None = None  # set when the peer reset the connection

    # -- protocol callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.pause_on_connect:
            transport.pause_reading()
        # Runs after the transport's own deferred add_reader (queued right after this
        # callback), and before any read it could schedule: removing the reader also
        # cancels a read already queued.
        asyncio.get_running_loop().call_soon(self._hold_early_pause, transport)

    def _hold_early_pause(self, transport: asyncio.Transport) -> None:
        if transport is not self.transport or transport.is_closing() or transport.is_reading():
            return
        sock = transport.get_extra_info("socket")
        # The selector loop's own _remove_reader: the public one refuses a transport's fd.
        remove = getattr(asyncio.get_running_loop(), "_remove_reader", None)
        if sock is not None and sock.fileno() >= 0 and remove is not None:
            remove(sock.fileno())

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._buffer is None:
            self._buffer = memoryview(bytearray(RECEIVE_BUFFER))
        return self._buffer[: self._read_size]

    def buffer_updated(self, nbytes: int) -> None:
        assert self._buffer is not None
        view = self._buffer[:nbytes]
        if self.limit is not None:
            room = self.limit - self.received
            if nbytes >= room:
                view = view[:room]
                nbytes = room
                self.eof = True
                assert self.transport is not None
                self.transport.abort()
        self.received += nbytes
        if self.sink is not None:
            try:
                self.sink(view)
            except Exception as exc:  # a full disk, say: end the transfer, keep the error
                self.sink_error = exc
                self.eof = True
                assert self.transport is not None
                self.transport.abort()
                self._wake_reader()
                return
        else:
            self._chunks.append(bytes(view))
            self._queued += nbytes
            if self._queued > _HIGH_WATER:
                self._pause_reading()
        if self.throttle is not None and nbytes:
            delay = self.throttle.consume(nbytes)
            if delay > 0:
                self._hold_for(delay)
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.error is None:
            self.error = exc
        self.eof = True
        self._wake_reader()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(DataConnectionClosed("data connection lost"))
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- helpers ------------------------------------------------------------------------
    def set_block_size(self, size: int) -> None:
        self._read_size = max(1, min(size, RECEIVE_BUFFER))

    def set_throttle(self, throttle: ThrottleGroup | None) -> None:
        """Limit what is received from now on, and charge what came already.

        Under TLS, an upload's first bytes arrive while the transfer still waits for the
        handshake to be reported done (half a megabyte on loopback): they count too.
        """
        self.throttle = throttle
        if throttle is None:
            return
        self.set_block_size(throttle.block_size)
        if self.received:
            delay = throttle.consume(self.received)
            if delay > 0:
                self._hold_for(delay)

    def _hold_for(self, delay: float) -> None:
        """Read nothing more for ``delay`` seconds (a speed limit)."""
        loop = asyncio.get_running_loop()
        self._pause_reading()
        loop.call_later(delay, self._resume_reading)
        self._throttled_until = loop.time() + delay

    async def throttle_done(self) -> None:
        """At the end of an upload: wait until the limit allows what was received.

        Pausing the transport holds back what the kernel has not delivered yet, but all
        of an upload, end of data included, can be here already: what came during the
        TLS handshake, or what Python 3.10's TLS layer decrypted in one go (it goes on
        delivering while paused). Without this wait, such an upload would end at once.
        """
        if self._throttled_until:
            remaining = self._throttled_until - asyncio.get_running_loop().time()
            if remaining > 0:
                await asyncio.sleep(remaining)

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.transport.is_closing():
            self._reading_paused = False
            self.transport.resume_reading()

    def _wake_reader(self) -> None:
        waiter = self._reader_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_eof(self) -> None:
        """Wait until the peer has sent everything (sink mode)."""
        while not self.eof:
            self._reader_waiter = asyncio.get_running_loop().create_future()
            await self._reader_waiter

    async def read(self) -> bytes:
        """The next received block; ``b""`` once the peer has finished."""
        while not self._chunks:
            if self.eof:
                return b""
            self._reader_waiter = asyncio.get_running_loop().create_future()
            await self._reader_waiter
        chunk = self._chunks.popleft()
        self._queued -= len(chunk)
        if self._queued <= _HIGH_WATER // 2 and self.throttle is None:
            self._resume_reading()
        return chunk

    # -- a socket without a transport ---------------------------------------------------
    @classmethod
    def accepted(cls, sock: socket.socket, peer: object, *, pause: bool = False) -> DataConnection:
        """An accepted connection that gets its transport only when it needs one
        (:meth:`attach`); ``pause`` as for the constructor."""
        connection = cls(pause=pause)
        connection.raw = sock
        connection._raw_peer = peer
        return connection

    def attach(self) -> None:
        """Wrap the raw socket in a transport now (uploads, downloads, a listing that
        does not fit the socket's buffer). connection_made follows in the next loop turn;
        ``transport`` is usable at once."""
        sock, self.raw = self.raw, None
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        self.transport = loop._make_socket_transport(  # type: ignore[attr-defined]
            sock, self, extra={"peername": self._raw_peer}
        )

    def _write_raw(self, sock: socket.socket, data: bytes) -> bytes:
        """Send what the socket takes now; returns the rest (empty when all went)."""
        view = memoryview(data)
        try:
            while view:
                view = view[sock.send(view) :]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.error = exc
            self._close_raw()
            raise DataConnectionClosed(str(exc)) from exc
        return bytes(view)

    def _close_raw(self) -> bool:
        """Close the raw socket after reading what the peer sent (so that the close is a
        FIN, not a reset); False when the peer had reset the connection."""
        sock, self.raw = self.raw, None
        if sock is None:
            return True
        ok = True
        try:
            while sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            ok = False
            if self.error is None:
                self.error = exc
        sock.close()
        self.eof = True
        if not self.closed.done():
            self.closed.set_result(None)
        return ok

    async def write(self, data: bytes) -> None:
        sock = self.raw
        if sock is not None:
            data = self._write_raw(sock, data)
            if not data:
                return
            self.attach()  # the socket's buffer is full: the transport takes the rest
        transport = self.transport
        if transport is None or transport.is_closing():
            raise DataConnectionClosed("data connection closed")
        tcp = self.tcp_transport
        if tcp is not None and tcp.is_closing():
            # The peer went away under TLS: a download that does not wait for the write
            # buffer would otherwise go on encrypting into the void (and asyncio logs
            # "socket.send() raised exception" from the fifth write on).
            raise DataConnectionClosed("data connection closed")
        transport.write(data)
        if self._paused_writing:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    async def finish(self) -> bool:
        """End a download: flush what is buffered, then close.

        Returns False when the peer reset the connection before all data left us. We do
        not wait for the peer's own close: many clients (curl, lftp) keep the data
        connection open until they have read the 226 reply.
        """
        if self.raw is not None:
            return self._close_raw()  # every byte is with the kernel already
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
            if not self.tls and self.error is None and transport.get_write_buffer_size() == 0:
                # Every byte is with the kernel already, which sends the FIN after them:
                # no need to wait a loop turn for connection_lost.
                return True
        await self.closed
        return self.error is None

    def abort(self) -> None:
        if self.raw is not None:
            self._close_raw()
        if self.transport is not None:
            self.transport.abort()

    async def send_file(self, file_fd: int, offset: int, count: int) -> int:
        """Send ``count`` bytes of a file with sendfile(2); returns the bytes sent.

        Unlike ``loop.sendfile``, the socket stays registered for writing until the end,
        instead of being removed and added again around every partial send.
        """
        transport = self.transport
        assert transport is not None
        self._pause_reading()
        sock_fd = transport.get_extra_info("socket").fileno()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        position, end = offset, offset + count
        # Blocks of 64 KiB for large files, two per wake-up (see _SENDFILE_CALLS_PER_WAKEUP):
        # the client then copies each while it is still in the CPU cache. One call for the
        # whole rest, or many per wake-up, measured up to 2x slower on a 256 MiB file here
        # (benchmarks/). A small file goes in a few large blocks: there the wake-ups are
        # what costs.
        step = _SENDFILE_BLOCK if count > _SMALL_FILE else _SMALL_FILE_BLOCK

        def writable() -> None:
            nonlocal position
            for _ in range(_SENDFILE_CALLS_PER_WAKEUP):
                try:
                    block = min(step, end - position)
                    sent = os.sendfile(sock_fd, file_fd, position, block)
                except BlockingIOError:
                    return
                except OSError as exc:
                    self.error = exc
                    if not done.done():
                        done.set_exception(DataConnectionClosed(str(exc)))
                    return
                position += sent
                if sent == 0 or position >= end:
                    if not done.done():
                        done.set_result(None)
                    return
                if sent < block:
                    return  # the socket buffer is full: the next call would only fail

        writable()  # the socket is usually writable now: no wake-up for the first block
        if not done.done():
            # The transport owns the socket's fd in the selector: watch a duplicate of it.
            sock_fd = os.dup(sock_fd)
            loop.add_writer(sock_fd, writable)
            try:
                await done
            finally:
                loop.remove_writer(sock_fd)
                os.close(sock_fd)
        else:
            done.result()  # raises what the first attempt met
        return position - offset

    def can_splice(self) -> bool:
        """Whether :meth:`splice_into` may be used (plain TCP, no throttle or fault)."""
        if not _CAN_SPLICE or self.tls or self.throttle is not None or self.limit is not None:
            return False
        transport = self.transport
        return transport is not None and transport.get_extra_info("socket") is not None

    async def splice_into(self, fd: int, count: Callable[[int], None]) -> None:
        """Move the rest of an upload into the file ``fd``; returns at the peer's EOF.

        A reset by the peer ends the upload like an EOF, with ``error`` set; a failure to
        write the file (a full disk) is raised.
        """
        transport = self.transport
        assert transport is not None
        while self._chunks:  # bytes that came before
            chunk = self._chunks.popleft()
            self._queued -= len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            count(len(chunk))
        if self.eof:
            return
        self._pause_reading()
        # The transport owns the socket's fd in the selector: watch a duplicate of it.
        sock_fd = os.dup(transport.get_extra_info("socket").fileno())
        pipe_r, pipe_w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe_w, _F_SETPIPE_SZ, _PIPE_SIZE)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        flags = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK

        def readable() -> None:
            for _ in range(_SPLICES_PER_WAKEUP):
                try:
                    n = os.splice(sock_fd, pipe_w, _PIPE_SIZE, flags=flags)
                except BlockingIOError:
                    return
                except OSError as exc:  # reset by the peer
                    self.error = exc
                    n = 0
                if n == 0:
                    if not done.done():
                        done.set_result(None)
                    return
                try:
                    left = n
                    while left:
                        left -= os.splice(pipe_r, fd, left, flags=os.SPLICE_F_MOVE)
                except OSError as exc:
                    if not done.done():
                        done.set_exception(exc)
                    return
                self.received += n
                count(n)

        loop.add_reader(sock_fd, readable)
        try:
            await done
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # pragma: no cover -- pipe closed under us
                raise DataConnectionClosed(str(exc)) from exc
            raise
        finally:
            loop.remove_reader(sock_fd)
            os.close(sock_fd)
            os.close(pipe_r)
            os.close(pipe_w)
            self.eof = True
