"""Active-mode bounce (PORT/EPRT to another host or a privileged port) and passive-port
hijack (a data connection from another host). 127.0.0.2 plays the other host: it is a
loopback address, so nothing leaves the machine."""

from __future__ import annotations

import contextlib
import socket

import pytest
from conftest import LiveServer, StartServer, parse_epsv, parse_pasv

OTHER_HOST = "127.0.0.2"
SECRET = b"for the logged-in client only\n"


def other_host_usable() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind((OTHER_HOST, 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not other_host_usable(), reason="127.0.0.2 is not usable")


@pytest.fixture
def srv(live_server: StartServer) -> LiveServer:
    live = live_server(wait_future_timeout=0.5)
    live.put("/secret.txt", SECRET)
    return live


def port_arg(host: str, port: int) -> str:
    return ",".join(host.split(".")) + f",{port // 256},{port % 256}"


def assert_never_contacted(listener: socket.socket) -> None:
    listener.settimeout(0.5)
    with pytest.raises((TimeoutError, socket.timeout)):
        conn, _ = listener.accept()
        conn.close()


# --------------------------------------------------------------------------- bounce


@pytest.mark.parametrize("verb", ["PORT", "EPRT"])
def test_active_mode_to_another_host_is_refused(srv: LiveServer, verb: str) -> None:
    with socket.create_server((OTHER_HOST, 0)) as victim:
        port = victim.getsockname()[1]
        with srv.raw_logged_in() as raw:
            raw.cmd("TYPE I")
            if verb == "PORT":
                reply = raw.cmd(f"PORT {port_arg(OTHER_HOST, port)}")
            else:
                reply = raw.cmd(f"EPRT |1|{OTHER_HOST}|{port}|")
            assert reply[:3] in {"501", "504"}, reply
            # whatever the client does next, the victim is never contacted
            follow = raw.cmd("RETR secret.txt")
            assert follow[:3] in {"425", "503"}, follow
            assert raw.cmd("NOOP").startswith("200")
        assert_never_contacted(victim)


@pytest.mark.parametrize(
    "command",
    ["PORT 127,0,0,1,0,21", "PORT 127,0,0,1,3,255", "EPRT |1|127.0.0.1|22|", "PORT 127,0,0,1,0,0",
     "EPRT |1|127.0.0.1|1023|"],
)
def test_active_mode_to_privileged_port_is_refused(srv: LiveServer, command: str) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        reply = raw.cmd(command)
        assert reply[:3] in {"501", "504"}, reply
        assert raw.cmd("NOOP").startswith("200")


def test_eprt_with_ipv6_on_ipv4_session_is_refused(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        reply = raw.cmd("EPRT |2|::1|50000|")
        assert reply[:3] in {"501", "504", "522"}, reply


def test_own_address_and_high_port_is_accepted(srv: LiveServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as mine:
        mine.settimeout(5)
        port = mine.getsockname()[1]
        with srv.raw_logged_in() as raw:
            raw.cmd("TYPE I")
            assert raw.cmd(f"PORT {port_arg('127.0.0.1', port)}").startswith("200")
            raw.send("RETR secret.txt\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            conn, _ = mine.accept()
            with conn:
                got = b""
                while chunk := conn.recv(1000):
                    got += chunk
            assert raw.reply().startswith("226")
    assert got == SECRET


def test_foreign_address_allowed_when_configured(live_server: StartServer) -> None:
    live = live_server(allow_foreign_addresses=True)
    live.put("/secret.txt", SECRET)
    with socket.create_server((OTHER_HOST, 0)) as other:
        other.settimeout(5)
        port = other.getsockname()[1]
        with live.raw_logged_in() as raw:
            raw.cmd("TYPE I")
            assert raw.cmd(f"EPRT |1|{OTHER_HOST}|{port}|").startswith("200")
            raw.send("RETR secret.txt\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            conn, _ = other.accept()
            with conn:
                got = conn.recv(1000)
            assert raw.reply().startswith("226")
    assert got == SECRET


def test_privileged_port_allowed_when_configured(live_server: StartServer) -> None:
    live = live_server(allow_privileged_ports=True)
    with live.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        assert raw.cmd("PORT 127,0,0,1,3,255").startswith("200")


# --------------------------------------------------------------------------- hijack


def connect_from(host: str, port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect((host, port))
    return sock


def drain(sock: socket.socket, timeout: float = 1.0) -> bytes:
    sock.settimeout(timeout)
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return got


@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
def test_passive_connection_from_another_host_gets_nothing(srv: LiveServer, verb: str) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        reply = raw.cmd(verb)
        port = parse_pasv(reply)[1] if verb == "PASV" else parse_epsv(reply)
        try:
            thief = connect_from("127.0.0.1", port, OTHER_HOST)
        except OSError:
            thief = None  # refused outright: also fine
        try:
            raw.send("RETR secret.txt\r\n")
            # the rightful client connects after the thief, from its own address
            with socket.create_connection(("127.0.0.1", port), timeout=5) as mine:
                first = raw.reply()
                if first[:3] in {"125", "150"}:
                    got = drain(mine, 5)
                    assert raw.reply().startswith("226")
                    assert got == SECRET
                else:
                    assert first.startswith("425"), first
            if thief is not None:
                assert drain(thief) == b""
        finally:
            if thief is not None:
                thief.close()
        assert raw.cmd("NOOP").startswith("200")


def test_thief_alone_gets_nothing_and_client_gets_425(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        _, port = parse_pasv(raw.cmd("PASV"))
        try:
            thief = connect_from("127.0.0.1", port, OTHER_HOST)
        except OSError:
            thief = None
        try:
            reply = raw.cmd("RETR secret.txt")
            if reply[:3] in {"125", "150"}:
                reply = raw.reply()
            assert reply.startswith("425"), reply
            if thief is not None:
                assert drain(thief) == b""
        finally:
            if thief is not None:
                thief.close()
        assert raw.cmd("NOOP").startswith("200")


def test_thief_cannot_upload(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        _, port = parse_pasv(raw.cmd("PASV"))
        try:
            thief = connect_from("127.0.0.1", port, OTHER_HOST)
            with contextlib.suppress(OSError):
                thief.sendall(b"planted by another host")
            thief.close()
        except OSError:
            pass
        reply = raw.cmd("STOR planted.txt")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply.startswith("425"), reply
    assert not srv.exists("/planted.txt") or srv.read("/planted.txt") == b""
