"""LIST in the usual ``ls -l`` shape (English months whatever the locale) and MLSD/MLST facts."""

from __future__ import annotations

import calendar
import io
import locale
import os
import pathlib
import re
import socket
import struct
import subprocess
import time
from collections.abc import Iterator

import pytest
from conftest import BACKEND_NAMES, LiveServer, StartServer

MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
LS_LINE = re.compile(
    r"^(?P<type>[-dl])(?P<mode>[-r][-w][-xsS][-r][-w][-xsS][-r][-w][-xtT])\s+"
    r"(?P<links>\d+)\s+(?P<owner>\S+)\s+(?P<group>\S+)\s+(?P<size>\d+)\s+"
    rf"(?P<month>{MONTHS})\s+(?P<day>\d{{1,2}})\s+(?P<when>\d{{2}}:\d{{2}}|\d{{4}})\s"
    r"(?P<name>.+)$"
)
# noon UTC, so the calendar day is the same in every time zone the server might use
OLD = calendar.timegm((2001, 3, 15, 12, 0, 0))


def list_lines(ftp_like: LiveServer, path: str = "") -> list[str]:
    with ftp_like.ftp() as ftp:
        lines: list[str] = []
        ftp.retrlines(f"LIST {path}".strip(), lines.append)
        return lines


def parse(lines: list[str]) -> dict[str, re.Match[str]]:
    parsed = {}
    for line in lines:
        match = LS_LINE.match(line)
        assert match, f"not an ls -l line: {line!r}"
        parsed[match.group("name")] = match
    return parsed


@pytest.fixture(params=BACKEND_NAMES)
def srv(request: pytest.FixtureRequest, live_server: StartServer) -> LiveServer:
    live = live_server(backend=request.param)
    live.put("/old.txt", b"x" * 1234)
    live.set_mtime("/old.txt", OLD)
    live.put("/new.txt", b"")
    live.put("/with space.txt", b"ab")
    live.mkdir("/folder")
    return live


def test_list_shape(srv: LiveServer) -> None:
    entries = parse(list_lines(srv))
    assert set(entries) == {"old.txt", "new.txt", "with space.txt", "folder"}
    old = entries["old.txt"]
    assert old["type"] == "-"
    assert old["size"] == "1234"
    assert (old["month"], old["day"], old["when"]) == ("Mar", "15", "2001")
    assert entries["folder"]["type"] == "d"
    assert entries["new.txt"]["size"] == "0"
    # a file changed within the last six months shows a time of day, not a year
    assert re.fullmatch(r"\d{2}:\d{2}", entries["new.txt"]["when"])
    assert entries["with space.txt"]["size"] == "2"


def test_list_reflects_read_write_bits(srv: LiveServer) -> None:
    entries = parse(list_lines(srv))
    assert entries["old.txt"]["mode"][0] == "r"
    assert entries["folder"]["mode"][0] == "r"
    assert entries["folder"]["mode"][2] == "x"


def test_list_many_entries(live_server: StartServer) -> None:
    live = live_server(backend="memory")
    for i in range(300):
        live.put(f"/many/f{i:03d}", b"%d" % i)
    entries = parse(list_lines(live, "many"))
    assert sorted(entries) == [f"f{i:03d}" for i in range(300)]


# --------------------------------------------------------------------------- locale


@pytest.fixture(scope="session")
def foreign_time_locale(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str | None]:
    """A non-English LC_TIME locale usable in this process and the LOCPATH it needs.

    Installed locales are tried first; otherwise one is compiled with ``localedef`` into
    a temporary directory (glibc reads LOCPATH on every setlocale call). Skips when
    neither works: then the machine cannot show the difference.
    """
    saved = locale.setlocale(locale.LC_TIME)
    try:
        for name in ("de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "es_ES.UTF-8"):
            try:
                locale.setlocale(locale.LC_TIME, name)
            except locale.Error:
                continue
            return name, None
    finally:
        locale.setlocale(locale.LC_TIME, saved)
    target = tmp_path_factory.mktemp("locales")
    try:
        subprocess.run(
            ["localedef", "-i", "de_DE", "-f", "UTF-8", str(target / "de_DE.UTF-8")],
            check=True, capture_output=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        pytest.skip("no non-English locale installed and localedef cannot build one")
    return "de_DE.UTF-8", str(target)


@pytest.fixture
def in_foreign_locale(foreign_time_locale: tuple[str, str | None]) -> Iterator[str]:
    name, locpath = foreign_time_locale
    saved = locale.setlocale(locale.LC_TIME)
    old_locpath = os.environ.get("LOCPATH")
    if locpath is not None:
        os.environ["LOCPATH"] = locpath
    try:
        try:
            locale.setlocale(locale.LC_TIME, name)
        except locale.Error:
            pytest.skip(f"locale {name} could not be loaded")
        # prove the locale is really in force: the month names are not English
        months = {time.strftime("%b", time.gmtime(calendar.timegm((2001, m, 15, 12, 0, 0))))
                  for m in (3, 5, 10, 12)}
        assert months != {"Mar", "May", "Oct", "Dec"}
        yield name
    finally:
        locale.setlocale(locale.LC_TIME, saved)
        if old_locpath is None:
            os.environ.pop("LOCPATH", None)
        else:
            os.environ["LOCPATH"] = old_locpath


@pytest.mark.parametrize("backend", ["pathio", "memory"])
def test_list_months_are_english_under_another_locale(
    live_server: StartServer, in_foreign_locale: str, backend: str
) -> None:
    live = live_server(backend=backend)
    expected = {}
    for month, english in ((3, "Mar"), (5, "May"), (10, "Oct"), (12, "Dec")):
        name = f"m{month:02d}.txt"
        live.put("/" + name, b"m")
        live.set_mtime("/" + name, calendar.timegm((2001, month, 15, 12, 0, 0)))
        expected[name] = english
    entries = parse(list_lines(live))
    assert {name: m["month"] for name, m in entries.items()} == expected


# --------------------------------------------------------------------------- MLSD / MLST


FACT_MODIFY = re.compile(r"^\d{14}(\.\d{1,3})?$")


def test_mlsd_facts(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        entries = dict(ftp.mlsd("/"))
    entries.pop(".", None)
    assert set(entries) == {"old.txt", "new.txt", "with space.txt", "folder"}
    old = entries["old.txt"]
    assert old["type"] == "file"
    assert old["size"] == "1234"
    assert old["modify"][:14] == "20010315120000"
    assert FACT_MODIFY.match(old["modify"])
    assert set(old["perm"]) <= set("adfrw")
    assert "r" in old["perm"] and "w" in old["perm"]
    folder = entries["folder"]
    assert folder["type"] == "dir"
    assert set(folder["perm"]) <= set("cdeflmp")
    assert "e" in folder["perm"] and "l" in folder["perm"]
    uniques = [e["unique"] for e in entries.values()]
    assert all(uniques)
    assert len(set(uniques)) == len(uniques)


def test_mlsd_unique_is_stable(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        first = {n: f["unique"] for n, f in ftp.mlsd("/")}
        second = {n: f["unique"] for n, f in ftp.mlsd("/")}
    assert first == second


def test_mlsd_cdir_if_present_names_the_directory(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        entries = list(ftp.mlsd("/folder"))
    for _name, facts in entries:
        assert facts["type"] in {"file", "dir", "cdir", "pdir"}
    assert [n for n, f in entries if f["type"] not in {"cdir", "pdir"}] == []


def test_mlsd_on_a_file_is_501(srv: LiveServer) -> None:
    import ftplib

    with srv.ftp() as ftp, pytest.raises(ftplib.error_perm) as err:
        list(ftp.mlsd("old.txt"))
    # RFC 3659 7.2.1: MLSD of a non-directory is an error (501 in the RFC's examples)
    assert str(err.value)[:3] in {"501", "550"}


def test_mlst_facts_and_utc(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        reply = ftp.sendcmd("MLST /old.txt")
    line = reply.splitlines()[1]
    facts, _, name = line[1:].partition(" ")
    parsed = dict(f.split("=", 1) for f in facts.rstrip(";").split(";"))
    assert {k.lower() for k in parsed} >= {"type", "size", "modify", "perm", "unique"}
    assert parsed["modify"][:14] == "20010315120000"
    assert name.endswith("old.txt")


def test_mlst_of_directory_and_of_cwd(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        folder = ftp.sendcmd("MLST folder").splitlines()[1]
        ftp.cwd("folder")
        here = ftp.sendcmd("MLST").splitlines()[1]
    assert "type=dir;" in folder.lower()
    assert "type=" in here.lower()
    assert here.rstrip().endswith("folder")


def test_mlsd_names_with_spaces_and_unicode(srv: LiveServer) -> None:
    with srv.ftp() as ftp:
        ftp.storbinary("STOR dé jà vu.txt", io.BytesIO(b"123"))
        entries = dict(ftp.mlsd("/"))
    assert entries["dé jà vu.txt"]["size"] == "3"
    assert entries["with space.txt"]["size"] == "2"


def test_list_on_pathio_shows_real_size_and_mtime(
    live_server: StartServer, tmp_path: pathlib.Path
) -> None:
    live = live_server()
    target = live.base / "disk.bin"
    target.write_bytes(b"z" * 4321)
    stamp = calendar.timegm((1999, 12, 24, 12, 0, 0))
    os.utime(target, (stamp, stamp))
    entry = parse(list_lines(live))["disk.bin"]
    assert entry["size"] == "4321"
    assert (entry["month"], entry["day"], entry["when"]) == ("Dec", "24", "1999")


def test_listing_larger_than_the_socket_buffer_arrives_whole(
    live_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listings are written straight to the accepted data socket; one that the kernel does
    not take at once moves to a transport half-way. Every name must arrive, once, in
    order. The server's send buffer is made tiny here so that the move happens."""
    from pytest_ftpserver.server import channels
    from pytest_ftpserver.server.data import DataConnection

    accepted = DataConnection.accepted
    attached: list[bool] = []
    attach = DataConnection.attach

    def small_buffer(sock: socket.socket, peer: object, *, pause: bool = False) -> DataConnection:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return accepted(sock, peer, pause=pause)

    def counting_attach(self: DataConnection) -> None:
        attached.append(self.raw is not None)
        attach(self)

    monkeypatch.setattr(channels.DataConnection, "accepted", staticmethod(small_buffer))
    monkeypatch.setattr(DataConnection, "attach", counting_attach)
    live = live_server()
    names = [f"{i:05d}-" + "x" * 200 for i in range(3000)]  # about 620 KB of NLST
    for name in names:
        (live.base / name).write_bytes(b"")
    with live.ftp() as ftp:
        got: list[str] = []
        ftp.retrlines("NLST", got.append)
        assert got == sorted(names)
        lines: list[str] = []
        ftp.retrlines("LIST", lines.append)
        assert len(lines) == len(names)
    assert attached and all(attached)  # the listings did move to a transport


def test_listing_to_a_client_that_resets_gets_426(live_server: StartServer) -> None:
    live = live_server()
    for i in range(3000):
        (live.base / (f"{i:05d}-" + "y" * 200)).write_bytes(b"")
    with live.ftp() as ftp:
        conn = ftp.transfercmd("NLST")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.recv(100)
        conn.close()  # a reset, with most of the listing still to come
        reply = ftp.getmultiline()
        assert reply[:3] in {"226", "426"}, reply
        # the session goes on either way
        assert ftp.sendcmd("NOOP").startswith("200")
