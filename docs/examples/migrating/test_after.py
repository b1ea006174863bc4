"""The same tests with pytest-ftpserver (its ftp_server fixture)."""

from myapp import download_all, upload_report  # the code under test


def test_upload(ftp_server):
    upload_report(
        ftp_server.host, ftp_server.port,
        ftp_server.login, ftp_server.password,
        b"a,b\n",
    )

    assert ftp_server.read("report.csv") == b"a,b\n"


def test_download(ftp_server):
    ftp_server.put("incoming/data.txt", "payload")  # no local file

    files = download_all(
        ftp_server.host, ftp_server.port,
        ftp_server.login, ftp_server.password,
        "incoming",
    )

    assert files == {"data.txt": b"payload"}
