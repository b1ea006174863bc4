"""Resource exhaustion: idle crowds do not slow a working client; passive ports and
everything else are released when a session ends, however it ends."""

from __future__ import annotations

import contextlib
import gc
import io
import socket
import time
import warnings

import pytest
from conftest import RawClient, StartServer, parse_pasv, wait_until

CROWD = 300


def port_is_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_hundreds_of_idle_connections_do_not_slow_service(live_server: StartServer) -> None:
    live = live_server()
    live.put("/f.bin", b"f" * 100_000)
    crowd: list[socket.socket] = []
    try:
        for i in range(CROWD):
            sock = socket.create_connection((live.host, live.port), timeout=5)
            crowd.append(sock)
            if i % 3 == 1:
                sock.sendall(b"USER user")  # half a line, never finished
            elif i % 3 == 2:
                sock.sendall(b"USER user\r\nPASS pass\r\nPASV\r\n")  # then silence
        assert wait_until(lambda: live.stats.connections_active >= CROWD, timeout=10)
        started = time.monotonic()
        with live.ftp() as ftp:
            for _ in range(20):
                assert ftp.sendcmd("NOOP").startswith("200")
            buf = io.BytesIO()
            ftp.retrbinary("RETR f.bin", buf.write)
            ftp.storbinary("STOR g.bin", io.BytesIO(b"g" * 100_000))
            assert sorted(ftp.nlst()) == ["f.bin", "g.bin"]
        elapsed = time.monotonic() - started
        assert buf.getvalue() == b"f" * 100_000
        assert elapsed < 3.0, f"a crowd of {CROWD} idle connections slowed service: {elapsed:.2f} s"
    finally:
        for sock in crowd:
            sock.close()
    assert wait_until(lambda: live.stats.connections_active == 0, timeout=10)


def test_passive_port_released_when_session_quits(live_server: StartServer) -> None:
    live = live_server()
    with live.raw_logged_in() as raw:
        _, port = parse_pasv(raw.cmd("PASV"))
        raw.cmd("QUIT")
        assert raw.closed_by_peer()
    assert wait_until(lambda: port_is_closed(port), timeout=3)


@pytest.mark.parametrize("how", ["close", "rst"])
def test_passive_port_released_when_client_vanishes(live_server: StartServer, how: str) -> None:
    live = live_server()
    raw = live.raw_logged_in()
    _, port = parse_pasv(raw.cmd("PASV"))
    if how == "rst":
        raw.reset()
    else:
        raw.close()
    assert wait_until(lambda: port_is_closed(port), timeout=3)
    assert wait_until(lambda: live.stats.connections_active == 0)


def test_new_pasv_releases_the_previous_port(live_server: StartServer) -> None:
    live = live_server()
    with live.raw_logged_in() as raw:
        ports = [parse_pasv(raw.cmd("PASV"))[1] for _ in range(20)]
        for old in ports[:-1]:
            assert wait_until(lambda old=old: port_is_closed(old), timeout=3), old
        assert not port_is_closed(ports[-1])


def test_vanishing_mid_transfer_frees_everything(live_server: StartServer) -> None:
    live = live_server(write_speed_limit_per_connection=100_000)
    live.put("/big.bin", b"b" * 1_000_000)
    raw = live.raw_logged_in()
    raw.cmd("TYPE I")
    _, port = parse_pasv(raw.cmd("PASV"))
    data = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.send("RETR big.bin\r\n")
    assert raw.reply()[:3] in {"125", "150"}
    data.recv(1000)
    data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    data.close()
    raw.reset()
    assert wait_until(lambda: live.stats.connections_active == 0, timeout=3)
    assert port_is_closed(port)
    # the throttle of the dead transfer must not hold up the next client
    live.put("/small.bin", b"s" * 10_000)
    with live.ftp() as ftp:
        buf = io.BytesIO()
        ftp.retrbinary("RETR small.bin", buf.write)
    assert buf.getvalue() == b"s" * 10_000


def test_many_sessions_come_and_go_without_growth(live_server: StartServer) -> None:
    live = live_server()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(100):
            client = RawClient(live.host, live.port)
            with contextlib.suppress(OSError, EOFError):
                client.reply()
                client.send(b"USER user\r\nPASS pass\r\nPASV\r\nEPSV\r\n")
            if i % 2:
                client.reset()
            else:
                client.close()
        assert wait_until(lambda: live.stats.connections_active == 0, timeout=10)
        gc.collect()
    # commands still queued when a client vanished are dropped cleanly, not left as
    # coroutines that are never awaited
    unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not unawaited, sorted(set(unawaited))
    # the leak check of conftest verifies after teardown that no fd or task is left
    with live.ftp() as ftp:
        assert ftp.sendcmd("NOOP").startswith("200")


def test_limited_passive_ports_are_recycled(live_server: StartServer) -> None:
    from conftest import free_port

    ports = sorted({free_port() for _ in range(2)})
    live = live_server(passive_ports=ports)
    first = live.raw_logged_in()
    second = live.raw_logged_in()
    third = live.raw_logged_in()
    try:
        taken = {parse_pasv(first.cmd("PASV"))[1], parse_pasv(second.cmd("PASV"))[1]}
        assert taken == set(ports)
        # every port of the range is in use: a clear refusal, and the session goes on
        busy = third.cmd("PASV")
        assert busy[:3] in {"421", "425"}, busy
        assert third.cmd("NOOP").startswith("200")
        first.cmd("QUIT")
        assert first.closed_by_peer()

        def third_gets_a_port() -> bool:
            reply = third.cmd("PASV")
            return reply.startswith("227") and parse_pasv(reply)[1] in ports

        assert wait_until(third_gets_a_port, timeout=3, step=0.1)
    finally:
        for client in (first, second, third):
            client.close()
