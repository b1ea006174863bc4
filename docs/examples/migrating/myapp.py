"""A stand-in for the application under test in the migration example."""

import ftplib
import io


def upload_report(host: str, port: int, user: str, password: str, data: bytes) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login(user, password)
        ftp.storbinary("STOR report.csv", io.BytesIO(data))


def download_all(host: str, port: int, user: str, password: str, directory: str) -> dict:
    files = {}
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login(user, password)
        ftp.cwd(directory)
        for name in ftp.nlst():
            data = io.BytesIO()
            ftp.retrbinary(f"RETR {name}", data.write)
            files[name] = data.getvalue()
    return files
