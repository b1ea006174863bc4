"""Regressions found by the session-5 review (helper-11), each a failing case before its fix.

- QUIT during a transfer aborted it: an upload whose client closed its data side and quit
  without waiting for the 226 was cut (RFC 959: the transfer ends, then 221).
- A REST offset outlived a refused RETR/STOR (and unrelated commands) and shifted the
  next transfer.
- MemoryPathIO let RNTO put a directory in place of a file (the file was lost), and
  refused to rename a directory onto itself.
- A file name that is not UTF-8 on disk failed every listing of its directory (451).
- The log put ABOR before the transfer it interrupted.
"""

from __future__ import annotations

import ftplib
import logging
import os
import pathlib
import socket
from typing import Any

import pytest
from conftest import (
    LiveServer,
    RawClient,
    StartServer,
    backend_base,
    parse_pasv,
    tls_contexts,
)

from pytest_ftpserver import Permission, User

BACKENDS = ["pathio", "memory", "async"]
PAYLOAD = bytes(range(256)) * (16 * 1024)  # 4 MiB


def pasv(raw: RawClient) -> socket.socket:
    host, port = parse_pasv(raw.cmd("PASV"))
    return socket.create_connection((host, port), timeout=10)


def log_of(live: LiveServer) -> list[Any]:
    """The server's log, read in its own thread."""

    async def read() -> list[Any]:
        return list(live.server.log)

    return live.call(read())


def read_all(sock: socket.socket) -> bytes:
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


# ------------------------------------------------------------------------ QUIT


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("limit", [None, 8 << 20])
def test_quit_right_after_an_upload_stores_all_of_it(
    live_server: StartServer, backend: str, limit: int | None
) -> None:
    live = live_server(backend=backend, read_speed_limit=limit)
    with live.raw_logged_in(timeout=30) as raw:
        raw.cmd("TYPE I")
        data = pasv(raw)
        with data:
            assert raw.cmd("STOR up.bin").startswith("150")
            data.sendall(PAYLOAD)
            data.shutdown(socket.SHUT_WR)
            raw.send("QUIT\r\n")  # at once, as a client that does not wait for the 226
            assert raw.reply().startswith("226")
            assert raw.reply().startswith("221")
            assert raw.closed_by_peer()
    assert live.read("/up.bin") == PAYLOAD
    verbs = [(entry.verb, entry.code) for entry in log_of(live)]
    assert verbs[-2:] == [("STOR", 226), ("QUIT", 221)]


def test_quit_queued_with_stor_waits_for_the_upload(live_server: StartServer) -> None:
    live = live_server()
    with live.raw_logged_in(timeout=30) as raw:
        raw.cmd("TYPE I")
        data = pasv(raw)
        with data:
            raw.send("STOR q.bin\r\nQUIT\r\nNOOP\r\n")  # one read: QUIT waits in the queue
            assert raw.reply().startswith("150")
            data.sendall(PAYLOAD)
        assert raw.reply().startswith("226")
        assert raw.reply().startswith("221")  # and NOOP, after QUIT, is not answered
        assert raw.closed_by_peer()
    assert live.read("/q.bin") == PAYLOAD


def test_nothing_after_quit_is_read_and_closing_the_data_side_ends_it(
    live_server: StartServer,
) -> None:
    live = live_server(write_speed_limit=100_000)
    live.put("/big.bin", PAYLOAD)
    with live.raw_logged_in(timeout=30) as raw:
        raw.cmd("TYPE I")
        data = pasv(raw)
        with data:
            assert raw.cmd("RETR big.bin").startswith("150")
            data.recv(1000)
            raw.send("QUIT\r\nABOR\r\nSTAT\r\n")  # after QUIT: not read, not answered
        # The client gives the download up by closing its data side: the transfer's
        # failure reply, then QUIT's.
        reply = raw.reply()
        assert reply[:3] in {"426", "451"}, reply
        assert raw.reply().startswith("221")
        assert raw.closed_by_peer()
    assert [e.verb for e in log_of(live)][-2:] == ["RETR", "QUIT"]


# ------------------------------------------------------------------------ REST


@pytest.fixture
def guarded(live_server: StartServer, tmp_path: pathlib.Path) -> LiveServer:
    root = backend_base("pathio", tmp_path)
    user = User(
        "user", "pass", base_path=root,
        permissions=[Permission("/"), Permission("/secret", readable=False, writable=False)],
    )
    live = live_server([user])
    live.put("/f.txt", b"0123456789")
    live.put("/secret/x", b"s")
    return live


@pytest.mark.parametrize(
    "refused", ["RETR /secret/x", "RETR nope.txt", "RETR a\0b", "DELE nope", "CWD /"]
)
def test_rest_does_not_outlive_the_next_command(guarded: LiveServer, refused: str) -> None:
    with guarded.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        assert raw.cmd("REST 5").startswith("350")
        raw.cmd(refused)
        data = pasv(raw)
        with data:
            assert raw.cmd("RETR f.txt").startswith("150")
            assert read_all(data) == b"0123456789"
        assert raw.reply().startswith("226")


@pytest.mark.parametrize("refused", ["STOR /secret/x", "STOR nope/x.txt"])
def test_rest_is_used_up_by_a_refused_stor(guarded: LiveServer, refused: str) -> None:
    with guarded.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        assert raw.cmd("REST 5").startswith("350")
        assert raw.cmd(refused)[:1] in {"4", "5"}
        data = pasv(raw)
        with data:
            assert raw.cmd("STOR f.txt").startswith("150")
            data.sendall(b"NEW")
        assert raw.reply().startswith("226")
    assert guarded.read("/f.txt") == b"NEW"


def test_rest_still_reaches_its_transfer_past_pasv_type_and_size(guarded: LiveServer) -> None:
    """What clients send between REST and the transfer keeps the offset."""
    with guarded.raw_logged_in() as raw:
        assert raw.cmd("REST 4").startswith("350")
        raw.cmd("TYPE I")
        raw.cmd("SIZE f.txt")
        data = pasv(raw)
        with data:
            assert raw.cmd("RETR f.txt").startswith("150")
            assert read_all(data) == b"456789"
        assert raw.reply().startswith("226")


def test_ftplib_resume_still_works(guarded: LiveServer) -> None:
    with guarded.ftp() as ftp:
        got: list[bytes] = []
        ftp.retrbinary("RETR f.txt", got.append, rest=7)
        assert b"".join(got) == b"789"


# ------------------------------------------------------------------------ rename


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_directory_never_replaces_a_file(live_server: StartServer, backend: str) -> None:
    live = live_server(backend=backend)
    live.put("/keep.txt", b"precious")
    live.put("/d/inner.txt", b"x")
    with live.ftp() as ftp:
        ftp.sendcmd("RNFR /d")
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.sendcmd("RNTO /keep.txt")
    assert live.read("/keep.txt") == b"precious"
    assert live.read("/d/inner.txt") == b"x"


@pytest.mark.parametrize("backend", BACKENDS)
def test_renaming_onto_itself_changes_nothing(live_server: StartServer, backend: str) -> None:
    live = live_server(backend=backend)
    live.put("/d/inner.txt", b"x")
    live.put("/f.txt", b"y")
    with live.ftp() as ftp:
        for name in ("/d", "/f.txt"):
            ftp.sendcmd(f"RNFR {name}")
            assert ftp.sendcmd(f"RNTO {name}").startswith("250")
    assert live.read("/d/inner.txt") == b"x"
    assert live.read("/f.txt") == b"y"


# ------------------------------------------------------------------------ names


@pytest.mark.skipif(os.name != "posix", reason="file names as raw bytes are a POSIX thing")
def test_a_name_that_is_not_utf8_does_not_break_listings(live_server: StartServer) -> None:
    live = live_server()
    try:
        with open(os.path.join(os.fsencode(live.base), b"bad\xff.txt"), "wb") as out:
            out.write(b"x")
    except OSError as exc:  # a file system that only takes UTF-8 names
        pytest.skip(f"cannot make a non-UTF-8 name here: {exc}")
    live.put("/good.txt", b"y")
    with live.raw_logged_in() as raw:
        for verb in ("NLST", "LIST", "MLSD"):
            data = pasv(raw)
            with data:
                assert raw.cmd(verb).startswith("150"), verb
                listing = read_all(data)
            assert raw.reply().startswith("226"), verb
            assert b"good.txt" in listing
            assert b"bad\xff.txt" in listing  # the name's own bytes
        assert raw.cmd("STAT /").startswith("213")


# ------------------------------------------------------------------------ log order


def test_the_log_puts_abor_after_the_transfer_it_ended(live_server: StartServer) -> None:
    live = live_server(write_speed_limit=100_000)
    live.put("/big.bin", PAYLOAD)
    with live.raw_logged_in(timeout=30) as raw:
        raw.cmd("TYPE I")
        data = pasv(raw)
        with data:
            assert raw.cmd("RETR big.bin").startswith("150")
            data.recv(1000)
            raw.send("ABOR\r\n")
            assert raw.reply().startswith("426")
            assert raw.reply().startswith("226")
        assert raw.cmd("NOOP").startswith("200")
    entries = [(e.verb, e.code) for e in log_of(live)]
    assert entries[-3:] == [("RETR", 426), ("ABOR", 226), ("NOOP", 200)]


# ------------------------------------------------------------------------ TLS download


def test_a_tls_download_given_up_by_the_client_stops_writing(
    live_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: the server went on encrypting into a data connection whose peer
    had gone, and asyncio logged "socket.send() raised exception" over and over."""
    server_context, client_context = tls_contexts("the FTPS case")
    live = live_server(backend="memory", ssl=server_context)
    live.put("/big.bin", PAYLOAD * 8)  # 32 MiB: far from done when the client leaves
    caplog.set_level(logging.WARNING, logger="asyncio")
    ftp = ftplib.FTP_TLS(context=client_context, timeout=10)
    try:
        ftp.connect(live.host, live.port)
        ftp.login(live.login, live.password)
        ftp.prot_p()
        ftp.voidcmd("TYPE I")
        for _ in range(3):
            conn = ftp.transfercmd("RETR big.bin")
            conn.recv(1000)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            conn.close()  # a reset: the server's next sends fail
            with pytest.raises(ftplib.error_temp, match=r"^4"):
                ftp.voidresp()
        ftp.voidcmd("NOOP")
        got: list[bytes] = []
        ftp.retrbinary("RETR big.bin", got.append)
        assert b"".join(got) == PAYLOAD * 8
        ftp.quit()
    finally:
        ftp.close()
    noise = [r.getMessage() for r in caplog.records if "raised exception" in r.getMessage()]
    assert noise == []
