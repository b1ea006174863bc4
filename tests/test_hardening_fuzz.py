"""Fuzzing: Hypothesis on the command parser and path resolver (no sockets), and random
byte streams thrown at a live server, which must still serve a fresh client afterwards."""

from __future__ import annotations

import contextlib
import gc
import io
import pathlib
import random
import socket
import warnings

from conftest import LiveServer, StartServer, wait_until
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_ftpserver.protocol import (
    MAX_LINE_LENGTH,
    Command,
    CommandError,
    PathError,
    parse_command_line,
    resolve_virtual_path,
)

# No example database: the suite leaves nothing behind in the working tree.
FUZZ_SETTINGS = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


# --------------------------------------------------------------------------- the parser


@FUZZ_SETTINGS
@given(st.binary(max_size=MAX_LINE_LENGTH + 64))
@example(b"")
@example(b"\xff")
@example(b"\xff\xf4\xff\xf2ABOR")
@example(b"\xff\xff\xff")
@example(b"NOOP\r")
@example(b" " * 10)
@example(b"A" * (MAX_LINE_LENGTH + 1))
def test_parser_returns_a_command_or_a_command_error(raw: bytes) -> None:
    try:
        command = parse_command_line(raw)
    except CommandError as exc:
        assert exc.code in {500, 501}
        assert exc.message
        return
    assert isinstance(command, Command)
    assert command.verb
    assert command.verb.isascii() and command.verb.isalpha()
    assert command.verb == command.verb.upper()
    assert "\r" not in command.argument and "\n" not in command.argument


@FUZZ_SETTINGS
@given(
    verb=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1,
                 max_size=4),
    argument=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
        max_size=200,
    ),
)
def test_parser_round_trips_well_formed_lines(verb: str, argument: str) -> None:
    line = f"{verb} {argument}" if argument else verb
    command = parse_command_line(line.encode("utf-8"))
    assert command.verb == verb.upper()
    assert command.argument == argument


@FUZZ_SETTINGS
@given(st.binary(max_size=64))
def test_parser_strips_telnet_ip_and_synch_before_any_verb(noise: bytes) -> None:
    command = parse_command_line(b"\xff\xf4\xff\xf2NOOP")
    assert command == Command("NOOP", "")
    # an escaped 0xFF inside the argument is data, not a command
    try:
        parsed = parse_command_line(b"STOR x" + noise.replace(b"\xff", b"\xff\xff"))
    except CommandError as exc:
        assert exc.code in {500, 501}
    else:
        assert parsed.verb == "STOR"


@FUZZ_SETTINGS
@given(st.binary(max_size=200), st.integers(min_value=1, max_value=5000))
def test_parser_refuses_overlong_lines(tail: bytes, extra: int) -> None:
    raw = b"NOOP " + b"a" * (MAX_LINE_LENGTH + extra) + tail
    try:
        parse_command_line(raw)
    except CommandError as exc:
        assert exc.code == 500
    else:
        raise AssertionError("an overlong line was accepted")


# --------------------------------------------------------------------------- paths

PATH_PIECES = st.sampled_from(
    ["..", ".", "", "a", "b", "..\\..", "\\", "/", "c d", "é", "...", "a..b", "%2e%2e"]
)


@FUZZ_SETTINGS
@given(
    cwd=st.lists(st.sampled_from(["a", "b", "c d", "é"]), max_size=4),
    pieces=st.lists(PATH_PIECES, max_size=12),
    absolute=st.booleans(),
    separator=st.sampled_from(["/", "\\"]),
)
def test_resolved_paths_never_climb_above_root(
    cwd: list[str], pieces: list[str], absolute: bool, separator: str
) -> None:
    start = pathlib.PurePosixPath("/", *cwd)
    argument = ("/" if absolute else "") + separator.join(pieces)
    resolved = resolve_virtual_path(start, argument)
    assert resolved.is_absolute()
    assert resolved.parts[0] == "/"
    assert ".." not in resolved.parts
    assert "." not in resolved.parts
    assert all("\\" not in part and "/" not in part for part in resolved.parts[1:])
    base = pathlib.Path("/srv/base")
    real = base.joinpath(*resolved.parts[1:])
    assert real == base or base in real.parents


@FUZZ_SETTINGS
@given(st.text(max_size=50), st.text(max_size=50))
def test_nul_anywhere_in_a_path_is_refused(before: str, after: str) -> None:
    try:
        resolve_virtual_path(pathlib.PurePosixPath("/"), before + "\x00" + after)
    except PathError:
        return
    raise AssertionError("a path with a NUL byte was resolved")


# --------------------------------------------------------------------------- live server

VERBS = [
    "USER", "PASS", "QUIT", "REIN", "PWD", "CWD", "CDUP", "MKD", "RMD", "DELE", "RNFR",
    "RNTO", "LIST", "NLST", "MLSD", "MLST", "SIZE", "MDTM", "MFMT", "RETR", "STOR", "STOU",
    "APPE", "REST", "ABOR", "ALLO", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT",
    "FEAT", "OPTS", "SYST", "NOOP", "HELP", "STAT", "SITE", "XPWD", "XMKD", "AUTH", "PBSZ",
    "PROT",
]
ARGS = ["", " ", "a", "/", "..", "../..", "\\", "x" * 300, "ALL", "I", "A", "L 8", "1,2,3",
        "127,0,0,1,4,1", "|1|127.0.0.1|1025|", "-la", "UTF8 ON", "HELP", "20200101000000 a",
        "0", "-1", "99999999999999999999", "\x00", "é", "%s%n"]


def random_stream(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:  # pure noise
        return rng.randbytes(rng.randrange(1, 4096))
    if kind == 1:  # noise cut into lines
        chunks = [rng.randbytes(rng.randrange(0, 200)) for _ in range(rng.randrange(1, 20))]
        return b"\r\n".join(chunks)
    lines = []
    if kind == 3:
        lines += [b"USER user", b"PASS pass"]
    for _ in range(rng.randrange(1, 25)):
        verb = rng.choice(VERBS)
        if rng.random() < 0.2:
            verb = verb.lower()
        line = (verb + " " + rng.choice(ARGS)).rstrip().encode("utf-8", "surrogatepass")
        if rng.random() < 0.15:
            position = rng.randrange(len(line) + 1)
            line = line[:position] + rng.randbytes(rng.randrange(1, 8)) + line[position:]
        lines.append(line)
    terminator = rng.choice([b"\r\n", b"\n", b"\r\n", b"\r"])
    return terminator.join(lines) + terminator


def throw(live: LiveServer, payload: bytes, rng: random.Random) -> None:
    with socket.create_connection((live.host, live.port), timeout=2) as sock:
        sock.settimeout(0.3)
        with contextlib.suppress(OSError):
            step = rng.choice([1, 7, 64, len(payload)])
            for i in range(0, len(payload), step):
                sock.sendall(payload[i : i + step])
            # read a little of what comes back, then leave (sometimes rudely)
            with contextlib.suppress(TimeoutError, socket.timeout):
                sock.recv(65536)
            if rng.random() < 0.5:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )


def check_fresh_client(live: LiveServer) -> None:
    with live.ftp() as ftp:
        assert ftp.sendcmd("NOOP").startswith("200")
        ftp.storbinary("STOR canary.txt", io.BytesIO(b"canary"))
        buf = io.BytesIO()
        ftp.retrbinary("RETR canary.txt", buf.write)
        assert buf.getvalue() == b"canary"
        assert "canary.txt" in ftp.nlst()


def test_random_byte_streams_do_not_hurt_the_server(live_server: StartServer) -> None:
    live = live_server(backend="memory", wait_future_timeout=0.2, max_login_failures=50)
    rng = random.Random(20240611)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for run in range(80):
            throw(live, random_stream(rng), rng)
            if run % 20 == 19:
                check_fresh_client(live)
        assert wait_until(lambda: live.stats.connections_active == 0, timeout=10)
        gc.collect()
    check_fresh_client(live)
    unawaited = sorted({str(w.message) for w in caught if "never awaited" in str(w.message)})
    assert not unawaited, unawaited
    # errors inside the server are checked by the live_server fixture at teardown
