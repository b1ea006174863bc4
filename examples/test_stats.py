"""Stats: counters of what happened on the server (for the session log, see
docs/examples/faults/test_log.py)."""

import ftplib
import io


def test_counters(ftp_server):
    ftp_server.put("in.txt", b"12345")
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.retrbinary("RETR in.txt", lambda chunk: None)
        ftp.storbinary("STOR out.txt", io.BytesIO(b"abc"))

    stats = ftp_server.stats
    assert stats.connections_total == 1 and stats.logins == 1
    assert stats.bytes_sent == 5 and stats.bytes_received == 3
    assert stats.files_sent == 1 and stats.files_received == 1
    assert stats.commands["STOR"] == 1

