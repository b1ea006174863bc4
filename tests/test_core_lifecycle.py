"""Start, address, close and ``async with``, on IPv4 and IPv6 loopback."""

from __future__ import annotations

import asyncio
import ftplib
import io
import pathlib
import socket
import time

import pytest
from conftest import RawClient, ipv6_loopback_available, parse_pasv, serve

pytestmark = pytest.mark.asyncio


def user(tmp_path: pathlib.Path) -> object:
    from pytest_ftpserver import User

    return User("user", "pass", base_path=tmp_path)


async def read_reply(reader: asyncio.StreamReader) -> str:
    line = (await asyncio.wait_for(reader.readline(), 5)).decode()
    return line.rstrip("\r\n")


async def test_start_returns_once_listening(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    for _ in range(5):
        server = Server([user(tmp_path)])
        await server.start(host="127.0.0.1", port=0)
        try:
            # no sleep, no retry: the very first connect must be accepted
            reader, writer = await asyncio.open_connection(*server.address[:2])
            assert (await read_reply(reader)).startswith("220")
            writer.close()
            await writer.wait_closed()
        finally:
            await server.close()


async def test_address_is_the_real_port(tmp_path: pathlib.Path) -> None:
    async with serve([user(tmp_path)]) as server:
        host, port = server.address[:2]
        assert host == "127.0.0.1"
        assert isinstance(port, int) and port > 0
        with socket.create_connection((host, port), timeout=5):
            pass


async def test_start_on_a_chosen_port(tmp_path: pathlib.Path) -> None:
    from conftest import free_port

    from pytest_ftpserver import Server

    port = free_port()
    server = Server([user(tmp_path)])
    await server.start(host="127.0.0.1", port=port)
    try:
        assert server.address[1] == port
    finally:
        await server.close()


async def test_start_on_a_busy_port_raises(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    with socket.create_server(("127.0.0.1", 0)) as busy:
        server = Server([user(tmp_path)])
        with pytest.raises(OSError):
            await server.start(host="127.0.0.1", port=busy.getsockname()[1])
        await server.close()


async def test_async_with_starts_and_closes(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    async with Server([user(tmp_path)]) as server:
        host, port = server.address[:2]
        reader, writer = await asyncio.open_connection(host, port)
        assert (await read_reply(reader)).startswith("220")
        writer.close()
        await writer.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)


async def test_close_is_fast_and_closes_every_session(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    (tmp_path / "big.bin").write_bytes(b"b" * 2_000_000)
    server = Server([user(tmp_path)], write_speed_limit=100_000)
    await server.start()
    host, port = server.address[:2]
    streams = []
    for _ in range(5):
        reader, writer = await asyncio.open_connection(host, port)
        assert (await read_reply(reader)).startswith("220")
        writer.write(b"USER user\r\nPASS pass\r\n")
        assert (await read_reply(reader)).startswith("331")
        assert (await read_reply(reader)).startswith("230")
        streams.append((reader, writer))
    # one session waits in PASV, one is in the middle of a slow download
    reader, writer = streams[0]
    writer.write(b"PASV\r\n")
    pasv_port = parse_pasv(await read_reply(reader))[1]
    reader, writer = streams[1]
    writer.write(b"TYPE I\r\n")
    await read_reply(reader)
    writer.write(b"PASV\r\n")
    data_host, data_port = parse_pasv(await read_reply(reader))
    data_reader, data_writer = await asyncio.open_connection(data_host, data_port)
    writer.write(b"RETR big.bin\r\n")
    assert (await read_reply(reader))[:3] in {"125", "150"}
    await data_reader.read(1000)

    started = time.monotonic()
    await server.close()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"close() took {elapsed:.3f} s"

    for reader, writer in streams:
        rest = await asyncio.wait_for(reader.read(), 5)  # EOF, maybe after a 421
        assert rest == b"" or rest.startswith(b"4"), rest
        writer.close()
    await asyncio.wait_for(data_reader.read(), 5)  # the data connection is closed too
    data_writer.close()
    for _, writer in streams:
        await writer.wait_closed()
    await data_writer.wait_closed()
    for dead in (port, pasv_port):
        with pytest.raises(OSError):
            await asyncio.open_connection(host, dead)


async def test_close_twice_and_close_without_clients(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    server = Server([user(tmp_path)])
    await server.start()
    await server.close()
    await server.close()


async def test_two_servers_side_by_side(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from pytest_ftpserver import User

    async with serve([User(base_path=tmp_path / "a")]) as first, serve(
        [User(base_path=tmp_path / "b")]
    ) as second:
        assert first.address[1] != second.address[1]

        def client(address: tuple[str, int], name: str) -> list[str]:
            with ftplib.FTP() as ftp:
                ftp.connect(address[0], address[1], timeout=5)
                ftp.login()
                ftp.storbinary(f"STOR {name}", io.BytesIO(b"x"))
                return ftp.nlst()

        assert await asyncio.to_thread(client, first.address[:2], "one") == ["one"]
        assert await asyncio.to_thread(client, second.address[:2], "two") == ["two"]


async def test_default_server_is_anonymous_on_cwd(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.txt").write_bytes(b"here")
    async with serve() as server:

        def client() -> tuple[list[str], bytes]:
            with ftplib.FTP() as ftp:
                ftp.connect(*server.address[:2], timeout=5)
                ftp.login()  # anonymous
                ftp.storbinary("STOR up.txt", io.BytesIO(b"up"))
                buf = io.BytesIO()
                ftp.retrbinary("RETR here.txt", buf.write)
                return sorted(ftp.nlst()), buf.getvalue()

        names, content = await asyncio.to_thread(client)
    assert names == ["here.txt", "up.txt"]
    assert content == b"here"
    assert (tmp_path / "up.txt").read_bytes() == b"up"


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
async def test_ipv6_loopback(tmp_path: pathlib.Path) -> None:
    (tmp_path / "six.txt").write_bytes(b"six\n")
    async with serve([user(tmp_path)], host="::1") as server:
        assert server.address[0] == "::1"

        def client(passive: bool) -> tuple[bytes, list[str]]:
            with ftplib.FTP() as ftp:
                ftp.connect("::1", server.address[1], timeout=5)
                ftp.login("user", "pass")
                ftp.set_pasv(passive)  # EPSV, or EPRT |2|::1|port|
                buf = io.BytesIO()
                ftp.retrbinary("RETR six.txt", buf.write)
                ftp.storbinary(f"STOR up-{passive}.txt", io.BytesIO(b"up"))
                lines: list[str] = []
                ftp.retrlines("LIST", lines.append)
                return buf.getvalue(), lines

        for passive in (True, False):
            content, lines = await asyncio.to_thread(client, passive)
            assert content == b"six\n"
            assert any(line.endswith(f"up-{passive}.txt") for line in lines)

        def raw_epsv() -> tuple[str, str, str]:
            with RawClient("::1", server.address[1]) as raw:
                raw.reply()
                raw.cmd("USER user")
                raw.cmd("PASS pass")
                return raw.cmd("EPSV"), raw.cmd("EPSV 2"), raw.cmd("PASV")

        epsv, epsv2, pasv = await asyncio.to_thread(raw_epsv)
        assert epsv.startswith("229")
        assert epsv2.startswith("229")
        # PASV cannot express an IPv6 address (RFC 2428 section 3)
        assert pasv[0] in "45", pasv
    assert (tmp_path / "up-True.txt").read_bytes() == b"up"
    assert (tmp_path / "up-False.txt").read_bytes() == b"up"


async def test_client_sees_421_or_eof_when_server_closes(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    server = Server([user(tmp_path)])
    await server.start()
    reader, writer = await asyncio.open_connection(*server.address[:2])
    assert (await read_reply(reader)).startswith("220")
    await server.close()
    rest = await asyncio.wait_for(reader.read(), 5)
    assert rest == b"" or rest.startswith(b"421")
    writer.close()
    await writer.wait_closed()


# --------------------------------------------------------------- listen() before start()


async def test_listen_queues_clients_until_start(tmp_path: pathlib.Path) -> None:
    """listen() binds at once; a client that connects before start() is served after it."""
    from pytest_ftpserver import Server

    server = Server([user(tmp_path)])  # type: ignore[list-item]
    server.listen("127.0.0.1", 0)
    try:
        host, port = server.address
        assert port > 0 and server.is_serving
        # The kernel completes the connection from the backlog; nothing answers yet.
        reader, writer = await asyncio.open_connection(host, port)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.readline(), 0.1)
        await server.start()
        assert server.address == (host, port)
        assert (await read_reply(reader)).startswith("220")
        writer.write(b"USER user\r\nPASS pass\r\nQUIT\r\n")
        assert (await read_reply(reader)).startswith("331")
        assert (await read_reply(reader)).startswith("230")
        assert (await read_reply(reader)).startswith("221")
        writer.close()
    finally:
        await server.close()
    assert not server.is_serving


async def test_listen_sets_tcp_nodelay_on_sessions(tmp_path: pathlib.Path) -> None:
    """A reply in two writes (150 then 226) must not wait for the client's delayed ACK."""
    from pytest_ftpserver import Server

    server = Server([user(tmp_path)])  # type: ignore[list-item]
    server.listen("127.0.0.1", 0)
    await server.start()
    try:
        sessions: list[int] = []

        def session_flags() -> None:
            for session in server._sessions:
                assert session.transport is not None
                sock = session.transport.get_extra_info("socket")
                sessions.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        reader, writer = await asyncio.open_connection(*server.address)
        assert (await read_reply(reader)).startswith("220")
        session_flags()
        assert sessions and all(sessions)
        writer.close()
    finally:
        await server.close()


async def test_listen_closed_without_start_and_misuse(tmp_path: pathlib.Path) -> None:
    from pytest_ftpserver import Server

    server = Server([user(tmp_path)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="numeric IP address"):
        server.listen("localhost", 0)
    server.listen("127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="already listening"):
        server.listen("127.0.0.1", 0)
    with pytest.raises(RuntimeError, match="without host/port"):
        await server.start(host="127.0.0.1", port=0)
    host, port = server.address
    await server.close()  # never started: the bound socket is closed all the same
    assert not server.is_serving
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()

