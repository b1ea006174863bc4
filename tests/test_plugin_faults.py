"""Fault injection through the fixture, ``assert_received``, failure reports with the
session dialogue, and server-side errors failing the test at teardown."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_retry_loop_against_failures(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io

        def download_with_retries(server, path, attempts):
            for attempt in range(1, attempts + 1):
                with ftplib.FTP() as ftp:
                    ftp.connect(server.host, server.port)
                    ftp.login(server.login, server.password)
                    data = io.BytesIO()
                    try:
                        ftp.retrbinary(f"RETR {path}", data.write)
                    except ftplib.error_temp as exc:
                        if not str(exc).startswith("421") or attempt == attempts:
                            raise
                        continue
                    return data.getvalue(), attempt

        def test_retries(ftp_server):
            ftp_server.put("report.csv", b"a,b\\n1,2\\n")
            ftp_server.fail("RETR", 421, times=2)
            assert download_with_retries(ftp_server, "report.csv", 3) == (b"a,b\\n1,2\\n", 3)
            ftp_server.assert_received("RETR", "report.csv", count=3)
            assert [e.code for e in ftp_server.log if e.verb == "RETR"] == [421, 421, 226]

        def test_gives_up(ftp_server):
            ftp_server.put("report.csv", b"x")
            ftp_server.fail("RETR", 421, message="Try later.", times=None)
            try:
                download_with_retries(ftp_server, "report.csv", 2)
            except ftplib.error_temp as exc:
                assert str(exc) == "421 Try later."
            else:
                raise AssertionError("no failure")
            ftp_server.reset_faults()
            assert download_with_retries(ftp_server, "report.csv", 1) == (b"x", 1)
        """
    )
    inner.runpytest().assert_outcomes(passed=2)


def test_delay_reaches_client_timeout_and_cut_then_rest_resumes(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io, socket, pytest

        def test_timeout_path(ftp_server):
            ftp_server.put("slow.txt", b"zzz")
            ftp_server.delay("RETR", 5)
            with ftplib.FTP(timeout=0.3) as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                with pytest.raises((TimeoutError, socket.timeout)):
                    ftp.retrbinary("RETR slow.txt", lambda _: None)

        def test_resume_after_cut(ftp_server):
            payload = bytes(range(256)) * 400  # 102400 bytes
            ftp_server.put("big.bin", payload)
            ftp_server.cut("RETR", after_bytes=30000)
            received = bytearray()
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                with pytest.raises(ftplib.error_temp, match="^426"):
                    ftp.retrbinary("RETR big.bin", received.extend)
                assert len(received) == 30000
                ftp.retrbinary("RETR big.bin", received.extend, rest=len(received))
            assert bytes(received) == payload
            ftp_server.assert_received("REST", "30000", count=1)

        def test_cut_control_verb_drops_connection(ftp_server):
            ftp_server.cut("PWD")
            with ftplib.FTP(timeout=5) as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                with pytest.raises((EOFError, ConnectionError)):
                    ftp.pwd()
        """
    )
    inner.runpytest().assert_outcomes(passed=3)


def test_assert_received_messages(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, pytest

        def test_messages(ftp_server):
            with pytest.raises(AssertionError, match="no command was received"):
                ftp_server.assert_received("USER")
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                ftp.mkd("made")
            entries = ftp_server.assert_received("mkd", "made", count=1)
            assert entries[0].code == 257
            ftp_server.assert_received("USER")
            with pytest.raises(AssertionError) as info:
                ftp_server.assert_received("DELE", "made")
            message = str(info.value)
            assert message.startswith(
                "expected 'DELE made' to be received at least once, it was received 0 time(s)"
            )
            assert "session 1: USER user -> 331" in message
            assert "session 1: PASS **** -> 230" in message
            assert "session 1: MKD made -> 257" in message
            assert ftp_server.password not in message
            with pytest.raises(AssertionError, match="'MKD' to be received 2 time"):
                ftp_server.assert_received("MKD", count=2)
        """
    )
    inner.runpytest().assert_outcomes(passed=1)


def test_failure_report_has_the_dialogue_with_password_masked(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, pathlib

        def test_fails(ftp_server, ftp_server_factory):
            pathlib.Path("password.txt").write_text(ftp_server.password)
            ftp_server_factory(backend="memory")  # a second server: a second section
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                for _ in range(50):
                    ftp.voidcmd("NOOP")
                ftp.cwd("/")
            assert ftp_server.exists("expected-upload.txt")

        def test_passes(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
        """
    )
    result = inner.runpytest("-rA")
    result.assert_outcomes(failed=1, passed=1)
    password = (inner.path / "password.txt").read_text()
    output = result.stdout.str()
    assert password and password not in output
    result.stdout.fnmatch_lines(
        [
            "*- ftp_server dialogue ftp://127.0.0.1:* -*",
            "session 1 (logged in as 'user'):",
            "  > USER user",
            "  < 331 *",
            "  > PASS ****",
            "  < 230 *",
            "  > NOOP",
            "  < 200 *",
            "    ... the same command and reply 49 more times",
            "  > CWD /",
            "  < 250 *",
            "  > QUIT",
            "  < 221 *",
            "*- ftp_server dialogue ftp://127.0.0.1:* -*",
            "(no client connected to this server)",
        ]
    )
    # only the failing test gets the section
    assert output.count("ftp_server dialogue") == 2


def test_server_side_error_fails_the_test_at_teardown(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, pytest
        from pytest_ftpserver import PathIO

        class BrokenPathIO(PathIO):
            async def list(self, path):
                raise RuntimeError("disk on fire")

        @pytest.mark.ftp_server(path_io_factory=BrokenPathIO)
        def test_listing(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                with pytest.raises(ftplib.Error):
                    ftp.nlst()
            # the test body itself passes; teardown reports the server's error

        @pytest.mark.ftp_server(path_io_factory=BrokenPathIO)
        def test_listing_and_failing(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)
                ftp.nlst()

        def test_next_one_is_clean(ftp_server):
            assert ftp_server.errors == []
        """
    )
    result = inner.runpytest()
    result.assert_outcomes(passed=2, failed=1, errors=2)
    # one dialogue section per failing test, even when both its call and teardown fail
    assert result.stdout.str().count("- ftp_server dialogue ftp://") == 2
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_listing*",
            "1 unexpected error(s) inside the FTP server:",
            "--- ftp://127.0.0.1:*, session 1, while handling NLST ---",
            "Traceback (most recent call last):",
            "*in list*",
            "RuntimeError: disk on fire",
            "*- ftp_server dialogue ftp://127.0.0.1:* -*",
        ]
    )
