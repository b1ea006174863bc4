"""``ftp_server.stop()``: a test can make its server go away mid-test."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
addopts = -p no:hypothesispytest
asyncio_default_fixture_loop_scope = function
"""


def test_stop_drops_sessions_and_refuses_new_connections(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        """
        import ftplib, pytest

        def test_client_sees_the_server_vanish(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port, timeout=5)
                ftp.login(ftp_server.login, ftp_server.password)
                ftp_server.stop()
                with pytest.raises((EOFError, OSError, ftplib.Error)):
                    ftp.pwd()
            with pytest.raises(ConnectionRefusedError):
                ftplib.FTP().connect(ftp_server.host, ftp_server.port, timeout=5)
            assert ftp_server.stats.connections_active == 0
            ftp_server.stop()  # twice is harmless; teardown closes it once more
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
