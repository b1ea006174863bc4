"""Transfers over a data connection: listings, RETR, STOR, APPE and STOU."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ..pathio.base import FileReader, FileWriter
from ..protocol import (
    FromNetworkAscii,
    ToNetworkAscii,
    real_path,
)
from .channels import DataChannels
from .data import DataConnection, DataConnectionClosed
from .session_base import SEND_BLOCK, FTPReply, ReplyT
from .throttle import ThrottleGroup

T = TypeVar("T")


class Transfers(DataChannels):
    """Verbs that move bytes over a data connection."""

    async def ftp_LIST(self, argument: str) -> ReplyT:
        return await self._send_listing(argument, "LIST")

    async def ftp_NLST(self, argument: str) -> ReplyT:
        return await self._send_listing(argument, "NLST")

    async def ftp_MLSD(self, argument: str) -> ReplyT:
        return await self._send_listing(argument, "MLSD")

    async def _send_listing(self, argument: str, verb: str) -> ReplyT:
        lines = await self._listing(argument, verb)
        payload = "".join(line + "\r\n" for line in lines).encode("utf-8", "surrogateescape")
        connection = await self._open_data(verb)
        try:
            failed = await self._send_bytes(connection, payload)
        except BaseException:
            connection.abort()
            raise
        if failed is not None:
            return failed
        return await self._finish_download(connection)

    async def _finish_download(self, connection: DataConnection) -> ReplyT:
        if not await connection.finish():
            return 426, "Data connection reset by peer; transfer aborted."
        return 226, "Transfer complete."

    # -- transfers ----------------------------------------------------------------------
    def _throttle_group(self, direction: str) -> ThrottleGroup | None:
        throttles = [t for key, t in self._throttles.items() if key.startswith(direction)]
        return ThrottleGroup(throttles) if throttles else None

    async def _send_bytes(self, connection: DataConnection, payload: bytes) -> ReplyT | None:
        """Send a listing; returns a reply when the connection failed, else None.

        Listings count against the "write" speed limits like downloads do.
        """
        view = memoryview(payload)
        limit = self._cut_after
        if limit is not None:
            view = view[:limit]
        throttle = self._throttle_group("write")
        step = throttle.block_size if throttle is not None else SEND_BLOCK
        try:
            for start in range(0, len(view), step):
                block = bytes(view[start : start + step])
                await self._data_write(connection, block)
                if throttle is not None and (delay := throttle.consume(len(block))) > 0:
                    await asyncio.sleep(delay)
        except (DataConnectionClosed, ConnectionError, asyncio.TimeoutError):
            connection.abort()
            return 426, "Data connection closed; transfer aborted."
        if limit is not None and limit < len(payload):
            connection.abort()
            return 426, "Data connection closed; transfer aborted (fault)."
        return None

    async def _storage(self, awaitable: Awaitable[T]) -> T:
        """A backend call in the middle of a transfer.

        Its ConnectionError or TimeoutError (a storage that is itself remote) must not
        pass for the data connection's, which the transfer loops catch and answer 426:
        they are answered 451, a local error, as RFC 959 has it after a 150.
        """
        try:
            return await self._io(awaitable)
        except (ConnectionError, TimeoutError) as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise FTPReply(451, f"Storage error: {reason}.") from None

    async def _data_write(self, connection: DataConnection, block: bytes) -> None:
        timeout = self.server.socket_timeout
        if timeout is None:
            await connection.write(block)
        else:
            await asyncio.wait_for(connection.write(block), timeout)
        transfer = self._transfer
        if transfer is not None:
            transfer.bytes += len(block)
        self._cmd_bytes += len(block)
        self.server.stats.bytes_sent += len(block)

    async def ftp_RETR(self, argument: str) -> ReplyT:
        offset, self._rest = self._rest, 0  # used up even when the transfer is refused
        _, real = await self._resolve(argument)
        st = await self._stat(real)
        if st.is_dir:
            return 550, "Is a directory."
        if offset > st.size:
            return 554, f"Restart offset {offset} is past the end of the file."
        reader = await self._io(self.path_io.open_read(real, offset))
        connection: DataConnection | None = None
        try:
            try:
                connection = await self._open_data("RETR")
                failed = await self._retr(connection, reader, offset, st.size - offset)
            finally:
                await reader.close()
        except BaseException:
            # Also when the backend's close() fails: the client reads the data connection
            # to its end before it reads the reply, so the connection must end.
            if connection is not None:
                connection.abort()
            raise
        if failed is not None:
            return failed
        reply = await self._finish_download(connection)
        if reply[0] == 226:
            self.server.stats.files_sent += 1
        return reply

    async def _retr(
        self, connection: DataConnection, reader: FileReader, offset: int, size: int
    ) -> ReplyT | None:
        throttle = self._throttle_group("write")
        limit = self._cut_after
        file = reader.sendfile_file
        transport = connection.transport
        assert transport is not None
        stats = self.server.stats
        if (
            file is not None
            and throttle is None
            and limit is None
            and not self._ascii
            and not self._protect_data
            and self.server.socket_timeout is None
            and size > 0
        ):
            try:
                sent = await connection.send_file(file.fileno(), offset, size)
            except (ConnectionError, OSError):
                connection.abort()
                return 426, "Data connection closed; transfer aborted."
            self._cmd_bytes += sent
            stats.bytes_sent += sent
            return None
        block = throttle.block_size if throttle is not None else SEND_BLOCK
        encoder = ToNetworkAscii() if self._ascii else None
        sent_total = 0
        try:
            while True:
                data = await self._storage(reader.read(block))
                if not data:
                    if encoder is not None and (tail := encoder.flush()):
                        await self._data_write(connection, tail)
                    break
                if encoder is not None:
                    data = encoder.feed(data)
                if limit is not None and sent_total + len(data) >= limit:
                    data = data[: limit - sent_total]
                    await self._data_write(connection, data)
                    connection.abort()
                    return 426, "Data connection closed; transfer aborted (fault)."
                await self._data_write(connection, data)
                sent_total += len(data)
                if throttle is not None:
                    delay = throttle.consume(len(data))
                    if delay > 0:
                        await asyncio.sleep(delay)
        except (DataConnectionClosed, ConnectionError, asyncio.TimeoutError):
            connection.abort()
            return 426, "Data connection closed; transfer aborted."
        return None

    async def ftp_STOR(self, argument: str) -> ReplyT:
        return await self._store(argument, append=False)

    async def ftp_APPE(self, argument: str) -> ReplyT:
        return await self._store(argument, append=True)

    async def ftp_STOU(self, argument: str) -> ReplyT:
        base = argument.strip() or "file"
        virtual = self._virtual(base)
        name = virtual.name or "file"
        parent = str(virtual.parent)
        candidate = str(virtual)
        assert self.user is not None
        for n in range(1, 10_000):
            real = real_path(self.user.base_path, self._virtual(candidate))
            if not await self._io(self.path_io.exists(real)):
                break
            candidate = f"{parent.rstrip('/')}/{name}.{n}"
        else:
            return 450, "Cannot find a unique file name."
        unique = self._virtual(candidate).name
        return await self._store(candidate, append=False, unique_name=unique)

    async def _store(
        self, argument: str, *, append: bool, unique_name: str | None = None
    ) -> ReplyT:
        offset, self._rest = self._rest, 0  # used up even when the transfer is refused
        _, real = await self._resolve(argument, write=True)
        if await self._io(self.path_io.is_dir(real)):
            return 550, "Is a directory."
        if offset:
            try:
                size = (await self._stat(real)).size
            except OSError:
                size = 0
            if offset > size:
                return 554, f"Restart offset {offset} is past the end of the file."
        # The data connection first: a transfer that never starts must not touch the file.
        connection = await self._open_data(
            "STOR", f"FILE: {unique_name}" if unique_name is not None else None
        )
        # Limits apply from the first byte, even those that arrived during the TLS
        # handshake or arrive while the file opens.
        connection.set_throttle(self._throttle_group("read"))
        connection.limit = self._cut_after
        try:
            writer = await self._io(self.path_io.open_write(real, append=append, offset=offset))
            try:
                failed = await self._receive(connection, writer)
            finally:
                await writer.close()
        except BaseException:
            connection.abort()
            raise
        if failed is not None:
            return failed
        self.server.stats.files_received += 1
        if unique_name is not None:
            return 226, f"Transfer complete (unique file name: {unique_name})."
        return 226, "Transfer complete."

    async def _receive(self, connection: DataConnection, writer: FileWriter) -> ReplyT | None:
        stats = self.server.stats
        transfer = self._transfer
        assert transfer is not None
        socket_timeout = self.server.socket_timeout
        sink_write = writer.write_nowait

        def count(n: int) -> None:
            transfer.bytes += n
            stats.bytes_received += n

        try:
            if (
                writer.fileno is not None
                and not self._ascii
                and socket_timeout is None
                and connection.can_splice()
            ):
                await connection.splice_into(writer.fileno, count)
                self._cmd_bytes = connection.received  # all of it: one transfer per connection
            elif sink_write is not None and not self._ascii:
                # Blocks go from the socket callback to the file: no task, no queue.
                def sink(view: memoryview) -> None:
                    sink_write(view)
                    n = len(view)
                    transfer.bytes += n
                    stats.bytes_received += n

                while connection._chunks:  # bytes that came before the sink was set
                    sink(memoryview(connection._chunks.popleft()))
                connection.sink = sink
                if socket_timeout is None:
                    await connection.wait_eof()
                else:
                    await self._wait_progress(connection, socket_timeout)
                self._cmd_bytes = connection.received  # all of it: one transfer per connection
                if connection.sink_error is not None:
                    raise connection.sink_error
            else:
                decoder = FromNetworkAscii() if self._ascii else None
                while True:
                    if socket_timeout is None:
                        chunk = await connection.read()
                    else:
                        chunk = await asyncio.wait_for(connection.read(), socket_timeout)
                    if not chunk:
                        break
                    n = len(chunk)
                    transfer.bytes += n
                    stats.bytes_received += n
                    self._cmd_bytes += n
                    if decoder is not None:
                        chunk = decoder.feed(chunk)
                    await self._storage(writer.write(chunk))
                if decoder is not None and (tail := decoder.flush()):
                    await self._storage(writer.write(tail))
        except asyncio.TimeoutError:
            connection.abort()
            return 426, "Data connection timed out; transfer aborted."
        if connection.limit is not None and connection.received >= connection.limit:
            return 426, "Data connection closed; transfer aborted (fault)."
        if connection.error is not None:
            return 426, "Data connection reset; transfer aborted, received data kept."
        await connection.throttle_done()
        connection.abort()
        await connection.closed
        return None

    async def _wait_progress(self, connection: DataConnection, timeout: float) -> None:
        """Wait for the end of an upload, failing if no byte arrives for ``timeout``."""
        waiter = asyncio.ensure_future(connection.wait_eof())
        try:
            while True:
                seen = connection.received
                done, _ = await asyncio.wait({waiter}, timeout=timeout)
                if done:
                    return
                if connection.received == seen:
                    raise asyncio.TimeoutError
        finally:
            waiter.cancel()
