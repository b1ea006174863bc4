"""This test fails on purpose: its report gets a section with the FTP dialogue."""

import ftplib


def test_download_report(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.cwd("/reports")  # there is no /reports: 550, and the test fails
