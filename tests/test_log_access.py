"""Reading ``server.log`` and the stats from a test: at once after a reply, and by slice."""

from __future__ import annotations

import pytest


def test_reading_the_log_from_a_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib

        import pytest


        @pytest.mark.ftp_server(backend="memory")
        def test_each_reply_is_in_the_log_when_the_client_has_it(ftp_server):
            # The server records a command before it sends the reply; the other order
            # let a test thread that won the GIL at the send read a log without it.
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
                ftp.login(ftp_server.login, ftp_server.password)
                for i in range(1000):  # bounded; each round is a chance for the race
                    verb = "NOOP" if i % 2 else "PWD"
                    ftp.sendcmd(verb)
                    assert ftp_server.server.log[-1].verb == verb, i
                ftp.quit()
                assert ftp_server.server.log[-1].verb == "QUIT"


        @pytest.mark.ftp_server(backend="memory", log_limit=3)
        def test_the_log_takes_slices_and_keeps_its_limit(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
                ftp.login(ftp_server.login, ftp_server.password)
                ftp.sendcmd("PWD")
                ftp.sendcmd("NOOP")
            log = ftp_server.server.log
            assert len(log) == 3  # USER and PASS fell out
            last_two = log[-2:]
            assert isinstance(last_two, list)
            assert [entry.verb for entry in last_two] == ["NOOP", "QUIT"]
            assert [entry.verb for entry in log[::2]] == ["PWD", "QUIT"]
            assert log[0].verb == "PWD"
            assert log[-1].code == 221


        @pytest.mark.ftp_server(backend="memory")
        @pytest.mark.ftp_user(maximum_connections=1)
        def test_a_session_is_counted_out_when_its_client_has_the_221(ftp_server):
            stats = ftp_server.stats
            for i in range(300):  # bounded; each round is a chance for the race
                with ftplib.FTP() as ftp:
                    ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
                    ftp.login(ftp_server.login, ftp_server.password)  # at once: 1 allowed
                    assert stats.connections_active == 1, i
                    ftp.quit()
                    assert stats.connections_active == 0, i
            assert stats.logins == 300
            assert stats.connections_peak == 1
        """
    )
    inner.runpytest("-p", "no:randomly").assert_outcomes(passed=3)
