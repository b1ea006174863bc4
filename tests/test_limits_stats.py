"""server.stats after known sequences of commands (api.md section 3)."""

from __future__ import annotations

import collections
import contextlib
import ftplib
import io
import socket
import threading

from conftest import RawClient, StartServer, parse_pasv, wait_until


def transfer(raw: RawClient, command: str, upload: bytes | None = None) -> bytes:
    host, port = parse_pasv(raw.cmd("PASV"))
    got = b""
    with socket.create_connection((host, port), timeout=5) as data:
        raw.send(command + "\r\n")
        assert raw.reply()[:3] in {"125", "150"}
        if upload is not None:
            data.sendall(upload)
        else:
            while chunk := data.recv(65536):
                got += chunk
    assert raw.reply().startswith("226")
    return got


def test_fresh_server_stats_are_zero(live_server: StartServer) -> None:
    stats = live_server().stats
    assert (
        stats.connections_total, stats.connections_active, stats.connections_peak,
        stats.logins, stats.failed_logins, stats.bytes_sent, stats.bytes_received,
        stats.files_sent, stats.files_received,
    ) == (0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert isinstance(stats.commands, collections.Counter)
    assert sum(stats.commands.values()) == 0


def test_stats_after_a_known_sequence(live_server: StartServer) -> None:
    live = live_server()
    with live.raw() as raw:
        raw.cmd("USER user")
        raw.cmd("PASS pass")
        raw.cmd("TYPE I")
        transfer(raw, "STOR a.bin", upload=b"a" * 1000)
        transfer(raw, "STOR b.bin", upload=b"b" * 234)
        assert transfer(raw, "RETR a.bin") == b"a" * 1000
        listing = transfer(raw, "LIST")
        raw.cmd("noop")
        raw.cmd("NOOP")
        raw.cmd("QUIT")
    with live.raw() as raw:
        assert raw.cmd("USER user").startswith("331")
        assert raw.cmd("PASS wrong").startswith("530")
        raw.cmd("QUIT")
    assert wait_until(lambda: live.stats.connections_active == 0)
    stats = live.stats
    assert stats.connections_total == 2
    assert stats.connections_peak == 1
    assert stats.logins == 1
    assert stats.failed_logins == 1
    assert stats.bytes_received == 1234
    # data-channel payload: the file and the listing
    assert stats.bytes_sent == 1000 + len(listing)
    assert stats.files_received == 2
    assert stats.files_sent == 1
    expected = {"USER": 2, "PASS": 2, "TYPE": 1, "PASV": 4, "STOR": 2, "RETR": 1,
                "LIST": 1, "NOOP": 2, "QUIT": 2}
    assert {verb: stats.commands[verb] for verb in expected} == expected
    assert all(verb == verb.upper() for verb in stats.commands)


def test_peak_and_active_connections(live_server: StartServer) -> None:
    live = live_server()
    clients = [live.raw() for _ in range(5)]
    try:
        assert wait_until(lambda: live.stats.connections_active == 5)
        assert live.stats.connections_peak == 5
        for client in clients[:3]:
            client.close()
        assert wait_until(lambda: live.stats.connections_active == 2)
        assert live.stats.connections_peak == 5
        assert live.stats.connections_total == 5
    finally:
        for client in clients:
            client.close()
    assert wait_until(lambda: live.stats.connections_active == 0)


def test_stats_can_be_polled_during_a_transfer(live_server: StartServer) -> None:
    live = live_server(write_speed_limit_per_connection=200_000)
    live.put("/big.bin", b"x" * 300_000)
    seen: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.append(live.stats.bytes_sent)
            done.wait(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with live.ftp() as ftp:
            buf = io.BytesIO()
            ftp.retrbinary("RETR big.bin", buf.write)
    finally:
        done.set()
        poller.join()
    assert buf.getvalue() == b"x" * 300_000
    partial = [v for v in seen if 0 < v < 300_000]
    assert partial, "bytes_sent only moved at the end of the transfer"
    assert seen == sorted(seen)
    assert live.stats.bytes_sent == 300_000
    assert live.stats.files_sent == 1


def test_failed_transfers_are_not_counted_as_files(live_server: StartServer) -> None:
    live = live_server()
    with live.ftp() as ftp:
        for target in ("missing.bin", "/"):
            with contextlib.suppress(ftplib.error_perm):
                ftp.retrbinary(f"RETR {target}", lambda b: None)
    assert live.stats.files_sent == 0
    assert live.stats.bytes_sent == 0
    assert live.stats.commands["RETR"] == 2


def test_refused_connection_and_logins_are_counted(live_server: StartServer) -> None:
    live = live_server(maximum_connections=1)
    with live.raw() as first:
        extra = RawClient(live.host, live.port)
        with extra:
            assert extra.reply().startswith("421")
        for _ in range(2):
            first.cmd("USER user")
            assert first.cmd("PASS nope").startswith("530")
        first.cmd("USER user")
        assert first.cmd("PASS pass").startswith("230")
    assert wait_until(lambda: live.stats.connections_active == 0)
    assert live.stats.failed_logins == 2
    assert live.stats.logins == 1
    assert live.stats.connections_peak == 1


def test_byte_and_file_counts_are_exact_under_concurrency(live_server: StartServer) -> None:
    import concurrent.futures

    live = live_server()
    live.put("/shared.bin", b"s" * 50_000)

    def work(i: int) -> None:
        with live.ftp() as ftp:
            ftp.storbinary(f"STOR u{i}.bin", io.BytesIO(b"u" * (10_000 + i)))
            ftp.retrbinary("RETR shared.bin", lambda block: None)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        list(pool.map(work, range(10)))
    assert wait_until(lambda: live.stats.connections_active == 0)
    stats = live.stats
    assert stats.files_received == 10
    assert stats.files_sent == 10
    assert stats.bytes_received == sum(10_000 + i for i in range(10))
    assert stats.bytes_sent == 10 * 50_000
    assert stats.logins == 10
    assert stats.connections_total == 10
    assert 1 <= stats.connections_peak <= 10
