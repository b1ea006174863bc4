"""Back-pressure and pacing on the control and data channels."""

from __future__ import annotations

import asyncio
import pathlib
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


@pytest.mark.asyncio
async def test_listings_count_against_the_download_limit(tmp_path: pathlib.Path) -> None:
    import ftplib

    from pytest_ftpserver import User

    for n in range(400):  # about 40 KB of LIST output
        (tmp_path / f"file-with-a-longish-name-{n:04d}.txt").write_bytes(b"")
    users = [User("u", "p", base_path=tmp_path)]
    async with Server(users, write_speed_limit_per_connection=20_000) as server:

        def list_all() -> tuple[int, float]:
            with ftplib.FTP() as ftp:
                ftp.connect(*server.address, timeout=30)
                ftp.login("u", "p")
                lines: list[str] = []
                started = time.monotonic()
                ftp.retrlines("LIST", lines.append)
                return len(lines), time.monotonic() - started

        count, seconds = await asyncio.to_thread(list_all)
    assert count == 400
    # ~40 KB at 20 KB/s: generous bound, the unthrottled listing takes milliseconds.
    assert seconds >= 1.0
    assert server.stats.bytes_sent >= 30_000
