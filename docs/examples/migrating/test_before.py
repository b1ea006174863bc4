"""Tests written for pytest-localftpserver (its ftpserver fixture)."""

import pathlib

from myapp import download_all, upload_report  # the code under test


def test_upload(ftpserver):
    login = ftpserver.get_login_data()  # host, port, user, passwd
    upload_report(
        login["host"], login["port"], login["user"], login["passwd"],
        b"a,b\n",
    )

    home = pathlib.Path(ftpserver.server_home)
    assert (home / "report.csv").read_bytes() == b"a,b\n"


def test_download(ftpserver, tmp_path):
    source = tmp_path / "data.txt"
    source.write_text("payload")
    ftpserver.put_files(
        {"src": str(source), "dest": "incoming/data.txt"}
    )

    login = ftpserver.get_login_data()
    files = download_all(
        login["host"], login["port"], login["user"], login["passwd"],
        "incoming",
    )

    assert files == {"data.txt": b"payload"}
