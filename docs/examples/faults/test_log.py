"""The session log: every command, its reply, the bytes it moved; passwords masked."""

import ftplib
import io

import pytest


def test_what_the_client_sent(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.mkd("out")
        ftp.storbinary("STOR out/a.txt", io.BytesIO(b"12345"))

    first, second = ftp_server.log[:2]
    assert (first.verb, first.argument, first.code) == ("USER", "user", 331)
    assert (second.verb, second.argument, second.code) == ("PASS", "****", 230)

    stor = ftp_server.assert_received("STOR", "out/a.txt", count=1)[0]
    assert stor.code == 226 and stor.bytes == 5 and stor.user == "user"
    assert stor.session_id == first.session_id

    ftp_server.assert_received("MKD")  # at least once
    ftp_server.assert_received("DELE", count=0)  # never


def test_assert_received_says_what_came_instead(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)

    with pytest.raises(AssertionError) as excinfo:
        ftp_server.assert_received("STOR")
    assert "the server received:" in str(excinfo.value)
    assert "session 1: PASS **** -> 230" in str(excinfo.value)


def test_the_dialogue_as_text(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)

    text = ftp_server.dialogue()  # what a failure report shows
    assert "  > PASS ****\n  < 230 Login successful." in text
