"""A typical test: the code under test talks FTP, the test checks the server's side."""

import ftplib
import io


def publish(host: str, port: int, login: str, password: str, report: bytes) -> None:
    """The code under test: uploads a report into /reports, making the directory."""
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login(login, password)
        if "reports" not in ftp.nlst():
            ftp.mkd("reports")
        ftp.storbinary("STOR reports/daily.csv", io.BytesIO(report))


def test_publish_uploads_the_report(ftp_server):
    publish(ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password, b"a,b\n")

    assert ftp_server.listdir("/reports") == ["daily.csv"]
    assert ftp_server.read("/reports/daily.csv") == b"a,b\n"
    # With the default backend the tree is a real directory under tmp_path.
    assert (ftp_server.root / "reports" / "daily.csv").exists()


def test_publish_reuses_the_directory(ftp_server):
    ftp_server.mkdir("/reports")  # arrange: the directory is already there

    publish(ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password, b"x")

    ftp_server.assert_received("MKD", count=0)  # the client did not try to make it again
