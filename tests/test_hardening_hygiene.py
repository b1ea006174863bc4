"""Line and name hygiene: Telnet bytes, NUL, CR/LF in arguments, long names, on every
backend; nothing is stored under a name no file system could hold."""

from __future__ import annotations

import pytest
from conftest import BACKEND_NAMES, LiveServer, StartServer


@pytest.fixture(params=BACKEND_NAMES)
def srv(request: pytest.FixtureRequest, live_server: StartServer) -> LiveServer:
    live = live_server(backend=request.param)
    live.put("/keep.txt", b"keep\n")
    return live


def all_names(live: LiveServer, vpath: str = "/") -> list[str]:
    names = []
    for name in live.names(vpath):
        names.append(name)
        child = vpath.rstrip("/") + "/" + name
        if live.is_dir(child):
            names.extend(all_names(live, child))
    return names


@pytest.mark.parametrize(
    "prefix",
    [b"\xff\xf4\xff\xf2", b"\xff\xf4", b"\xff\xfb\x01", b"\xff\xfd\x03\xff\xfe\x01", b"\xff\xf1"],
)
def test_telnet_commands_before_a_verb_are_ignored(srv: LiveServer, prefix: bytes) -> None:
    with srv.raw_logged_in() as raw:
        raw.send(prefix + b"NOOP\r\n")
        assert raw.reply().startswith("200")
        raw.send(prefix + b"PWD\r\n")
        assert raw.reply().startswith('257 "/"')


def test_escaped_iac_is_a_data_byte_not_a_command(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        # "IAC IAC" is a literal 0xFF byte, which is not valid UTF-8 on its own
        raw.send(b"MKD x\xff\xffy\r\n")
        reply = raw.reply()
        assert reply[:3] in {"500", "501", "550", "553"}, reply
        assert raw.cmd("NOOP").startswith("200")
    assert all_names(srv) == ["keep.txt"]


@pytest.mark.parametrize(
    "line",
    [
        b"MKD a\x00b",
        b"STOR a\x00b",
        b"APPE \x00",
        b"RNFR keep.txt",  # followed by a NUL destination below
        b"MKD a\rb",
        b"MKD \r",
        b"STOR x\ry",
        b"MKD dir\x00\r",
    ],
)
def test_nul_and_cr_never_reach_a_name(srv: LiveServer, line: bytes) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("PASV")  # so a STOR/APPE that slipped through would not wait for PORT
        raw.send(line + b"\r\n")
        reply = raw.reply()
        if line.startswith(b"RNFR"):
            assert reply.startswith("350")
            raw.send(b"RNTO evil\x00name\r\n")
            reply = raw.reply()
        assert reply[0] in "45", reply
        assert raw.cmd("NOOP").startswith("200")
    names = all_names(srv)
    assert not [n for n in names if "\x00" in n or "\r" in n or "\n" in n], names
    assert srv.read("/keep.txt") == b"keep\n"


def test_lf_splits_a_line_into_two_commands(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.send(b"MKD a\nNOOP\r\n")
        assert raw.reply().startswith("257")
        assert raw.reply().startswith("200")
    assert "a" in srv.names("/")


def test_overlong_name_is_refused_without_touching_storage(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd("MKD " + "n" * 9000)
        assert reply.startswith("500"), reply
        reply = raw.cmd("MKD " + "n" * 4000)  # within the line limit, too long for a name
        assert reply[0] in "25", reply
        assert raw.cmd("NOOP").startswith("200")
    assert all(len(n) < 9000 for n in srv.names("/"))


@pytest.mark.parametrize(
    "name", ["..", ".", "/", "\\", "a/../..", "con", "nul", " ", "-rf", "*", "a\tb"]
)
def test_odd_names_are_handled(srv: LiveServer, name: str) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd(f"MKD {name}")
        assert reply[0] in "25", reply
        assert raw.cmd("NOOP").startswith("200")
        assert raw.cmd("PWD").startswith('257 "/"')
    assert srv.read("/keep.txt") == b"keep\n"


def test_control_characters_in_verbs_are_refused(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        for line in (b"NO\x00OP", b"\x00NOOP", b"NO\x1bOP", b"\x07\x08"):
            raw.send(line + b"\r\n")
            reply = raw.reply()
            assert reply[:3] in {"500", "501", "502"}, (line, reply)
        assert raw.cmd("NOOP").startswith("200")
