import ftplib
import io


def test_upload(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.storbinary("STOR hello.txt", io.BytesIO(b"hi"))
    assert ftp_server.read("hello.txt") == b"hi"
