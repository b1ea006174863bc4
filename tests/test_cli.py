"""The standalone command line, run as a real process: ``python -m pytest_ftpserver``."""

from __future__ import annotations

import ftplib
import io
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

COMMAND = [sys.executable, "-m", "pytest_ftpserver"]


class Running:
    def __init__(self, process: subprocess.Popen[str], lines: list[str]) -> None:
        self.process = process
        self.lines = lines
        match = re.search(r"ftp://(\[[^\]]+\]|[^:/ ]+):(\d+)", lines[0])
        assert match, lines
        self.host = match.group(1).strip("[]")
        self.port = int(match.group(2))

    def credentials(self) -> tuple[str, str]:
        for line in self.lines:
            if match := re.match(r"user (\S+) password (\S*)", line):
                return match.group(1), match.group(2)
        raise AssertionError(f"no credentials printed: {self.lines}")

    def ca_path(self) -> str:
        for line in self.lines:
            if "CA certificate:" in line:
                return line.split("CA certificate:", 1)[1].strip()
        raise AssertionError(f"no CA printed: {self.lines}")


@contextmanager
def serve(*args: str) -> Iterator[Running]:
    process = subprocess.Popen(
        [*COMMAND, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline()]
        deadline = time.monotonic() + 15
        # The lines after the first (credentials, CA) come at once; read what is announced.
        expected = 1 + sum(1 for a in args if a == "--user") + ("--anonymous" in args)
        expected += "--tls" in args or "--implicit-tls" in args
        if not any(a == "--user" for a in args) and "--anonymous" not in args:
            expected += 1  # the generated account
        while len(lines) < expected and time.monotonic() < deadline:
            lines.append(process.stdout.readline())
        assert "ftp://" in lines[0], (lines, process.stderr.read() if process.poll() else "")
        yield Running(process, [line.strip() for line in lines])
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover -- only if it hangs
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serves_memory_tree_until_signal_then_exits_zero(sig: signal.Signals) -> None:
    with serve("--user", "alice:secret") as running:
        with ftplib.FTP() as ftp:
            ftp.connect(running.host, running.port, timeout=10)
            ftp.login("alice", "secret")
            ftp.storbinary("STOR a.txt", io.BytesIO(b"in memory"))
            out = io.BytesIO()
            ftp.retrbinary("RETR a.txt", out.write)
            assert out.getvalue() == b"in memory"
        running.process.send_signal(sig)
        assert running.process.wait(10) == 0


def test_root_serves_a_directory_and_generated_credentials(tmp_path: pathlib.Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"from disk")
    with serve("--root", str(tmp_path)) as running:
        login, password = running.credentials()
        with ftplib.FTP() as ftp:
            ftp.connect(running.host, running.port, timeout=10)
            ftp.login(login, password)
            assert ftp.nlst() == ["hello.txt"]
            ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 1000))
    assert (tmp_path / "up.bin").read_bytes() == b"x" * 1000


def test_anonymous_login() -> None:
    with serve("--anonymous") as running, ftplib.FTP() as ftp:
        ftp.connect(running.host, running.port, timeout=10)
        assert ftp.login().startswith("230")


def test_wrong_password_refused() -> None:
    with serve("--user", "bob:right") as running, ftplib.FTP() as ftp:
        ftp.connect(running.host, running.port, timeout=10)
        with pytest.raises(ftplib.error_perm, match="530"):
            ftp.login("bob", "wrong")


@pytest.mark.skipif(not socket.has_ipv6, reason="this Python was built without IPv6")
def test_ipv6_host() -> None:
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 is not configured on this machine")
    with serve("--host", "::1", "--user", "u:p") as running:
        assert "ftp://[::1]:" in running.lines[0]
        with ftplib.FTP() as ftp:
            ftp.connect("::1", running.port, timeout=10)
            ftp.login("u", "p")
            assert ftp.nlst() == []


def test_explicit_tls_with_the_printed_ca() -> None:
    pytest.importorskip("trustme")
    with serve("--tls", "--user", "u:p") as running:
        context = ssl.create_default_context(cafile=running.ca_path())
        with ftplib.FTP_TLS(context=context) as ftp:
            ftp.connect(running.host, running.port, timeout=10)
            ftp.login("u", "p")
            ftp.prot_p()
            ftp.storbinary("STOR s.txt", io.BytesIO(b"secret"))
            out = io.BytesIO()
            ftp.retrbinary("RETR s.txt", out.write)
            assert out.getvalue() == b"secret"
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(10) == 0
    # The generated CA lives only as long as the server.
    assert not os.path.exists(running.ca_path())


@pytest.mark.parametrize("flags", [[], ["--tls"], ["--implicit-tls"]])
def test_demo_runs_and_exits_zero(flags: list[str]) -> None:
    if flags:
        pytest.importorskip("trustme")
    result = subprocess.run(
        [*COMMAND, "--demo", *flags], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "identical to the upload: True" in result.stdout


def test_demo_runs_twice_on_the_same_root(tmp_path: pathlib.Path) -> None:
    """A second --demo on the same --root found its "demo" directory and failed (550)."""
    for _ in range(2):
        result = subprocess.run(
            [*COMMAND, "--demo", "--root", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "identical to the upload: True" in result.stdout
    assert (tmp_path / "demo" / "hello.txt").is_file()


def test_busy_port_exits_non_zero_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0], result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "no-colon"], ["--port", "not-a-number"], ["--root", "x", "--memory"],
        ["--port", "99999"], ["--port", "-1"],  # were an OverflowError traceback
    ],
)
def test_bad_options_exit_non_zero(args: list[str]) -> None:
    result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "error" in result.stderr


def test_missing_root_directory(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope"
    result = subprocess.run(
        [*COMMAND, "--root", str(missing)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert not os.path.exists(missing)
