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

import contextlib
import ftplib
import io
import logging
import os
import pathlib
import shutil
import socket
import ssl
import stat as stat_module
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import (
    LiveServer,
    RawClient,
    StartServer,
    backend_base,
    ipv6_loopback_available,
    parse_pasv,
    recv_all,
    tls_contexts,
    tls_ftp,
    tls_materials,
)

from pytest_ftpserver import Permission, User

BACKENDS = ["pathio", "memory", "async"]
PAYLOAD = bytes(range(256)) * (16 * 1024)  # 4 MiB


def pasv(raw: RawClient) -> socket.socket:
    host, port = parse_pasv(raw.cmd("PASV"))
    return socket.create_connection((host, port), timeout=10)


@contextlib.contextmanager
def download_started(raw: RawClient, command: str) -> Iterator[socket.socket]:
    """TYPE I, PASV, ``command`` answered 150, and its first bytes read."""
    raw.cmd("TYPE I")
    with pasv(raw) as data:
        assert raw.cmd(command).startswith("150")
        data.recv(1000)
        yield data


def log_of(live: LiveServer) -> list[Any]:
    """The server's log, read in its own thread."""

    async def read() -> list[Any]:
        return list(live.server.log)

    return live.call(read())


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
    live = live_server(write_speed_limit=100_000)  # 4 MiB: ~40 s, far from done
    live.put("/big.bin", PAYLOAD)
    with live.raw_logged_in(timeout=30) as raw:
        with download_started(raw, "RETR big.bin"):
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
            assert recv_all(data) == b"0123456789"
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
            assert recv_all(data) == b"456789"
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
                listing = recv_all(data)
            assert raw.reply().startswith("226"), verb
            assert b"good.txt" in listing
            assert b"bad\xff.txt" in listing  # the name's own bytes
        assert raw.cmd("STAT /").startswith("213")


# ------------------------------------------------------------------------ log order


def test_the_log_puts_abor_after_the_transfer_it_ended(live_server: StartServer) -> None:
    live = live_server(write_speed_limit=100_000)  # 4 MiB: ~40 s, far from done
    live.put("/big.bin", PAYLOAD)
    with live.raw_logged_in(timeout=30) as raw:
        with download_started(raw, "RETR big.bin"):
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


# ------------------------------------------------------------ second review (helper-12)


@pytest.mark.skipif(shutil.which("lftp") is None, reason="lftp is not installed")
@pytest.mark.parametrize("passive", [True, False])
def test_lftp_uploads_over_prot_p_arrive_whole(
    live_server: StartServer, tmp_path: pathlib.Path, passive: bool
) -> None:
    """lftp never reads an upload's data connection: TLS 1.3 session tickets sent there
    stayed unread, its close became a reset, and the reset cut the upload (6 of 10)."""
    server_context, _, ca_pem = tls_materials("the FTPS case")
    live = live_server(backend="memory", ssl=server_context)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(ca_pem)
    payload = bytes(range(256)) * 4096  # 1 MiB
    local = tmp_path / "up.bin"
    local.write_bytes(payload)
    puts = "; ".join(f"put {local} -o /up{i}.bin" for i in range(5))
    script = "; ".join([
        f"set ssl:ca-file {ca}", "set ftp:ssl-force true", "set ftp:ssl-protect-data true",
        "set net:max-retries 1", "set net:timeout 10", "set cmd:fail-exit true",
        f"set ftp:passive-mode {'true' if passive else 'false'}",
        f"open -u {live.login},{live.password} ftp://{live.host}:{live.port}", puts,
    ])
    result = subprocess.run(
        ["lftp", "-c", script], capture_output=True, text=True, timeout=90,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    for i in range(5):
        assert live.read(f"/up{i}.bin") == payload
    stors = [(e.code, e.bytes) for e in log_of(live) if e.verb == "STOR"]
    assert stors == [(226, len(payload))] * 5


def test_data_connections_still_resume_the_control_session(live_server: StartServer) -> None:
    """What curl and lftp do (ftplib's own data connections never offer the session)."""
    server_context, client_context = tls_contexts("the FTPS case")
    live = live_server(backend="memory", ssl=server_context)
    live.put("/f.txt", b"resumed")
    ftp = tls_ftp(live, client_context)
    try:
        ftp.voidcmd("TYPE I")
        for _ in range(3):
            host, port = ftp.makepasv()
            plain = socket.create_connection((host, port), timeout=10)
            assert ftp.sendcmd("RETR f.txt").startswith("150")
            assert isinstance(ftp.sock, ssl.SSLSocket)
            conn = client_context.wrap_socket(
                plain, server_hostname="127.0.0.1", session=ftp.sock.session
            )
            try:
                assert conn.session_reused  # docs/ftps.md promises it
                assert conn.recv(100) == b"resumed"
                conn.unwrap()
            finally:
                conn.close()
            assert ftp.voidresp().startswith("226")
        ftp.quit()
    finally:
        ftp.close()


@pytest.mark.parametrize("level", ["read_speed_limit", "read_speed_limit_per_connection"])
def test_a_tls_upload_is_throttled_from_its_first_byte(
    live_server: StartServer, level: str
) -> None:
    """Under PROT P an upload's first half megabyte arrived while the transfer waited for
    its handshake, and the read limit did not count it. Timing is the behaviour here:
    500 KB at 500 KB/s is 1 s nominal; at least 0.6 s is required (it took 0.004)."""
    server_context, client_context = tls_contexts("the FTPS case")
    live = live_server(backend="memory", ssl=server_context, **{level: 500_000})
    payload = bytes(500_000)
    ftp = tls_ftp(live, client_context)
    try:
        started = time.monotonic()
        ftp.storbinary("STOR u.bin", io.BytesIO(payload))
        elapsed = time.monotonic() - started
        ftp.quit()
    finally:
        ftp.close()
    assert live.read("/u.bin") == payload
    assert 0.6 < elapsed < 10, elapsed


@pytest.mark.parametrize("tls", [False, True])
def test_the_log_counts_every_byte_of_an_upload(live_server: StartServer, tls: bool) -> None:
    """The STOR entry's bytes missed what arrived before the transfer started reading
    (under PROT P, or with a path_timeout): 9,764,864 of 10,240,000."""
    server_context, client_context = tls_contexts("the FTPS case")
    live = live_server(ssl=server_context, path_timeout=30)
    payload = os.urandom(1 << 20) * 10
    ftp = tls_ftp(live, client_context) if tls else live.ftp(timeout=30)
    try:
        ftp.storbinary("STOR big.bin", io.BytesIO(payload))
        ftp.quit()
    finally:
        ftp.close()
    assert live.read("/big.bin") == payload
    stor = [e for e in log_of(live) if e.verb == "STOR"]
    assert [(e.code, e.bytes) for e in stor] == [(226, len(payload))]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", pytest.param("::1", marks=pytest.mark.skipif(
        not ipv6_loopback_available(), reason="no IPv6 loopback here"))]
)
def test_active_mode_to_the_unspecified_address_means_the_client(
    live_server: StartServer, host: str
) -> None:
    """lftp in active mode on ::1 sends EPRT |2|::|port|; it was refused (504)."""
    live = live_server(host=host)
    live.put("/f.txt", b"active")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as listener, live.raw_logged_in() as raw:
        listener.bind((host, 0))
        listener.listen(1)
        listener.settimeout(10)
        port = listener.getsockname()[1]
        if family == socket.AF_INET6:
            command = f"EPRT |2|::|{port}|"
        else:
            command = f"PORT 0,0,0,0,{port >> 8},{port & 0xFF}"
        assert raw.cmd(command).startswith("200")
        raw.send("RETR f.txt\r\n")
        data, _ = listener.accept()
        with data:
            assert raw.reply().startswith("150")
            data.settimeout(10)
            assert recv_all(data) == b"active"
        assert raw.reply().startswith("226")


# ------------------------------------------------------------ third review (helper-13)


@pytest.mark.skipif(
    not hasattr(os, "mkfifo"), reason="named pipes (os.mkfifo) exist on POSIX systems only"
)
@pytest.mark.parametrize("backend", ["pathio", "async"])
def test_a_fifo_in_the_tree_is_refused_and_blocks_nothing(
    live_server: StartServer, backend: str
) -> None:
    """RETR of a FIFO opened it blocking, on the event loop's thread: the server (and, in
    the plugin, every server of the pytest session) stopped until a writer came."""
    live = live_server(backend=backend)
    os.mkfifo(live.base / "pipe")
    with live.raw_logged_in(timeout=10) as raw:
        raw.cmd("TYPE I")
        for command in ("RETR pipe", "APPE pipe", "REST 1\r\nSTOR pipe"):
            *before, last = command.split("\r\n")
            for line in before:
                raw.cmd(line)
            data = pasv(raw)
            with data:
                reply = raw.cmd(last)
                if reply.startswith("150"):
                    reply = raw.reply()
            assert reply[:1] in {"4", "5"}, (command, reply)
        with live.raw_logged_in(timeout=10) as other:  # the loop was never stopped
            assert other.cmd("NOOP").startswith("200")
        assert raw.cmd("NOOP").startswith("200")
    assert stat_module.S_ISFIFO(os.stat(live.base / "pipe").st_mode)


def test_a_download_ends_when_the_backends_close_fails(live_server: StartServer) -> None:
    """The data connection stayed open when reader.close() raised: ftplib, which reads
    it to its end before the reply, waited for ever."""
    from pytest_ftpserver import MemoryPathIO

    class CloseFails(MemoryPathIO):
        async def open_read(self, path: pathlib.Path, offset: int = 0) -> Any:
            reader = await super().open_read(path, offset)
            real_close = reader.close

            async def close() -> None:
                await real_close()
                raise PermissionError(13, "Permission denied", str(path))

            reader.close = close
            return reader

    live = live_server(backend="memory", path_io_factory=CloseFails)
    live.put("/f.bin", b"x" * 100_000)
    with live.ftp(timeout=10) as ftp:
        got: list[bytes] = []
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.retrbinary("RETR f.bin", got.append)
        assert b"".join(got) == b"x" * 100_000
        assert ftp.sendcmd("NOOP").startswith("200")


def test_the_dialogue_says_when_the_log_dropped_entries(live_server: StartServer) -> None:
    """Past log_limit the dialogue began in the middle of a session, without a word."""
    from pytest_ftpserver.plugin import format_dialogue

    live = live_server(log_limit=10)
    with live.raw_logged_in() as raw:
        for _ in range(12):
            assert raw.cmd("NOOP").startswith("200")
    log = log_of(live)
    assert len(log) == 10
    assert live.server.log.dropped == 4  # USER, PASS, and two NOOPs
    text = format_dialogue(live.server.log)
    assert text.startswith("(4 earlier log entries were dropped"), text
    assert "keeps the last 10" in text
    live.server.log.clear()
    assert live.server.log.dropped == 0
    assert format_dialogue(live.server.log) == "(no client connected to this server)"


@pytest.mark.skipif(os.name != "posix", reason="names with CR or LF are a POSIX thing")
def test_stat_of_a_directory_cannot_be_ended_early_by_a_name(live_server: StartServer) -> None:
    live = live_server()
    try:
        (live.base / "x\r\n213 forged end").write_bytes(b"")
    except OSError as exc:
        pytest.skip(f"this file system refuses the name: {exc}")
    with live.raw_logged_in() as raw:
        reply = raw.cmd("STAT /")
        assert reply.startswith("213-") and reply.endswith("213 End of status."), reply
        assert "x??213 forged end" in reply
        assert raw.cmd("NOOP").startswith("200")  # nothing of the reply was left over


@pytest.mark.parametrize("error", [ConnectionResetError, TimeoutError])
def test_a_remote_storage_error_is_not_blamed_on_the_data_connection(
    live_server: StartServer, error: type[OSError]
) -> None:
    """A backend's ConnectionError or TimeoutError during a transfer was answered 426
    ("data connection closed"), blaming the client; it is a local error: 451."""
    from pytest_ftpserver import MemoryPathIO

    class Remote(MemoryPathIO):
        failing = False  # set once the test's own file is in place

        async def open_read(self, path: pathlib.Path, offset: int = 0) -> Any:
            reader = await super().open_read(path, offset)
            if not self.failing:
                return reader

            async def read(n: int = -1) -> bytes:
                raise error("storage went away")

            reader.read = read
            return reader

        async def open_write(self, path: pathlib.Path, **kwargs: Any) -> Any:
            writer = await super().open_write(path, **kwargs)
            if not self.failing:
                return writer

            async def write(data: bytes) -> None:
                raise error("storage went away")

            writer.write = write
            writer.write_nowait = None  # the block-by-block path, as a remote store has
            return writer

    live = live_server(backend="memory", path_io_factory=Remote)
    live.put("/f.bin", b"x" * 1000)
    Remote.failing = True
    with live.ftp(timeout=10) as ftp:
        ftp.voidcmd("TYPE A")  # a transfer that reads and writes block by block
        with pytest.raises(ftplib.error_temp, match=r"^451 Storage error: storage went away"):
            ftp.retrbinary("RETR f.bin", lambda block: None)
        with pytest.raises(ftplib.error_temp, match=r"^451 Storage error: storage went away"):
            ftp.storbinary("STOR g.bin", io.BytesIO(b"y" * 1000))
        assert ftp.sendcmd("NOOP").startswith("200")
