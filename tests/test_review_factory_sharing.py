"""Regressions of ftp_server and ftp_server_factory sharing the test's one factory (kept in
the item's stash): what users saw before the sharing must still hold."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_errors_of_both_servers_reported_in_one_message_factory_first(
    inner: pytest.Pytester,
) -> None:
    """Errors recorded by ftp_server's server and by a factory server are reported as one
    clean "N unexpected error(s)" message at teardown, whichever fixture came first (not as
    an exception group of two pytest.fail with pytest's own frames)."""
    inner.makepyfile(
        """
        import ftplib, pytest
        from pytest_ftpserver import PathIO

        class BrokenPathIO(PathIO):
            async def list(self, path):
                raise RuntimeError("disk on fire")

        def hit(handle):
            with ftplib.FTP() as ftp:
                ftp.connect(handle.host, handle.port, timeout=5)
                ftp.login(handle.login, handle.password)
                with pytest.raises(ftplib.Error):
                    ftp.nlst()

        @pytest.mark.ftp_server(path_io_factory=BrokenPathIO)
        def test_factory_first(ftp_server_factory, ftp_server):
            other = ftp_server_factory(path_io_factory=BrokenPathIO)
            hit(ftp_server)
            hit(other)
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    output = result.stdout.str()
    assert "Exception Group" not in output and "ExceptionGroup" not in output
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_factory_first*",
            "2 unexpected error(s) inside the FTP server:",
        ]
    )


RERUN_CONFTEST = """
import pytest
from _pytest.runner import runtestprotocol

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # What pytest-rerunfailures does: the same item runs again after a failure.
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    if any(report.failed for report in reports):
        for defs in item._fixtureinfo.name2fixturedefs.values():
            for fixturedef in defs:
                cached = fixturedef.cached_result
                if cached is not None and cached[2] is not None:
                    fixturedef.cached_result = None
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
"""


def test_rerun_after_failed_ftp_server_setup_gets_a_fresh_server_root(
    inner: pytest.Pytester,
) -> None:
    """When ftp_server's setup fails once (here: its fixed port is busy), a rerun of the
    same item serves a directory under the rerun's own tmp_path, not the failed run's
    (the factory made by the failed setup must not stay in the item's stash)."""
    inner.makeconftest(RERUN_CONFTEST)
    inner.makepyfile(
        """
        import socket, pytest

        HOLD = socket.socket()
        HOLD.bind(("127.0.0.1", 0))
        HOLD.listen()
        PORT = HOLD.getsockname()[1]
        RUNS = []

        @pytest.fixture
        def port_busy_once():
            RUNS.append(1)
            if len(RUNS) == 2:
                HOLD.close()

        @pytest.mark.ftp_server(port=PORT)
        def test_served_root(port_busy_once, ftp_server, tmp_path):
            assert len(RUNS) == 2
            assert tmp_path in ftp_server.root.parents, (tmp_path, ftp_server.root)
        """
    )
    inner.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
