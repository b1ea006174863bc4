"""A client that sends commands but never reads the replies."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from pytest_ftpserver import MemoryPathIO, Server


def _flood(address: tuple[str, int], seconds: float) -> int:
    """Send HELP lines without reading; return how many the kernel accepted."""
    sent = 0
    with socket.create_connection(address, timeout=0.5) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.sendall(b"USER anonymous\r\n")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                client.sendall(b"HELP\r\n" * 100)
            except (TimeoutError, OSError):
                break
            sent += 100
    return sent


@pytest.mark.asyncio
async def test_a_client_that_never_reads_is_paused_then_dropped() -> None:
    async with Server(path_io_factory=MemoryPathIO, socket_timeout=0.5) as server:
        await asyncio.to_thread(_flood, server.address, 5.0)
        for _ in range(100):
            if server.stats.connections_active == 0:
                break
            await asyncio.sleep(0.05)
        assert server.stats.connections_active == 0
        # The server stopped reading long before the client stopped sending.
        assert server.stats.commands["HELP"] < 200_000


@pytest.mark.asyncio
async def test_others_are_served_while_one_client_stalls() -> None:
    async with Server(path_io_factory=MemoryPathIO) as server:
        flood = asyncio.create_task(asyncio.to_thread(_flood, server.address, 1.0))
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection(*server.address)
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"220")
        writer.write(b"NOOP\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"200")
        writer.close()
        await writer.wait_closed()
        await flood
