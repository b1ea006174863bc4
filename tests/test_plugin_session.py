"""Whole sessions in a subprocess: pytest-xdist workers, and nothing left behind at the end
(thread, socket, file descriptor) whatever the tests did."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]


def test_under_xdist_two_workers(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    inner.makepyfile(
        """
        import ftplib, io, os, pathlib, pytest

        @pytest.mark.parametrize("backend", ["tmp_path", "memory", "async"])
        @pytest.mark.parametrize("n", range(8))
        def test_roundtrip(ftp_server_factory, backend, n):
            server = ftp_server_factory(backend=backend)
            server.mkdir("/d")
            with ftplib.FTP() as ftp:
                ftp.connect(server.host, server.port)
                ftp.login(server.login, server.password)
                ftp.storbinary(f"STOR /d/f-{n}.txt", io.BytesIO(str(n).encode()))
            assert server.read(f"/d/f-{n}.txt") == str(n).encode()
            worker = os.environ.get("PYTEST_XDIST_WORKER", "none")
            with open(pathlib.Path(os.environ["PORTS_FILE"]), "a") as f:
                f.write(f"{worker} {server.port}\\n")
        """
    )
    ports_file = inner.path / "ports.txt"
    monkeypatch.setenv("PORTS_FILE", str(ports_file))
    result = inner.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=24)
    workers = {line.split()[0] for line in ports_file.read_text().splitlines()}
    assert workers == {"gw0", "gw1"}


LEAK_CONFTEST = """
import json, os, threading, pytest

def _fds():
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    return fds

def pytest_configure(config):
    config._leak_baseline = ({t.ident for t in threading.enumerate()}, _fds())

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    threads_before, fds_before = config._leak_baseline
    threads = [t.name for t in threading.enumerate() if t.ident not in threads_before]
    fds = {fd: target for fd, target in _fds().items()
           if fds_before.get(fd) != target and not target.startswith("/proc/")}
    with open(os.environ["LEAKS_FILE"], "w") as f:
        json.dump({"threads": threads, "fds": fds}, f)
"""

LEAK_TESTS = """
import asyncio, ftplib, io, socket, aioftp, pytest

@pytest.mark.parametrize("backend", ["tmp_path", "memory", "async"])
def test_transfers(ftp_server_factory, backend):
    server = ftp_server_factory(backend=backend)
    server.put("/d/a.bin", b"a" * 100000)
    with ftplib.FTP() as ftp:
        ftp.connect(server.host, server.port)
        ftp.login(server.login, server.password)
        ftp.retrbinary("RETR /d/a.bin", lambda _: None)
        ftp.storbinary("STOR /d/b.bin", io.BytesIO(b"b" * 100000))

def test_client_left_connected(ftp_server):
    global leftover
    leftover = ftplib.FTP()
    leftover.connect(ftp_server.host, ftp_server.port)
    leftover.login(ftp_server.login, ftp_server.password)
    leftover.sendcmd("PASV")  # a data listener left open too

def test_close_the_leftover_client():
    leftover.close()

@pytest.mark.ftp_server(tls=True)
def test_tls(ftp_server):
    with ftplib.FTP_TLS(context=ftp_server.client_ssl_context()) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)

@pytest.mark.asyncio
async def test_async_client(ftp_server):
    async with aioftp.Client.context(
        ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password
    ) as client:
        await client.list("/")

def test_delayed_reply_pending_at_teardown(ftp_server):
    ftp_server.delay("NOOP", 30)
    sock = socket.create_connection(ftp_server.address)
    sock.sendall(b"USER anonymous\\r\\nNOOP\\r\\n")
    sock.recv(100)
    sock.close()

def test_failing(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
    assert False
"""


def test_nothing_left_after_the_session(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaks_file = inner.path / "leaks.json"
    monkeypatch.setenv("LEAKS_FILE", str(leaks_file))
    inner.makeconftest(LEAK_CONFTEST)
    inner.makepyfile(LEAK_TESTS)
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=8, failed=1)
    leaks = json.loads(leaks_file.read_text())
    assert leaks == {"threads": [], "fds": {}}
