"""Upload: the code under test sends a file; the test checks what the server received."""

import ftplib
import io


def publish_report(host: str, port: int, login: str, password: str, content: bytes) -> None:
    """The code under test: uploads a report into /reports."""
    with ftplib.FTP() as ftp:
        ftp.connect(host, port)
        ftp.login(login, password)
        ftp.mkd("reports")
        ftp.storbinary("STOR reports/daily.csv", io.BytesIO(content))


def test_publish_report(ftp_server):
    publish_report(
        ftp_server.host,
        ftp_server.port,
        ftp_server.login,
        ftp_server.password,
        b"day,total\nmonday,3\n",
    )

    assert ftp_server.listdir("/reports") == ["daily.csv"]
    assert ftp_server.read("/reports/daily.csv") == b"day,total\nmonday,3\n"
    # With the default backend the tree is a real directory under tmp_path.
    assert (ftp_server.root / "reports" / "daily.csv").exists()
