"""Implicit FTPS (ftps://): TLS from the first byte, on control and data connections."""

import ftplib
import io
import socket

import aioftp
import pytest


class ImplicitFTP_TLS(ftplib.FTP_TLS):
    """ftplib speaks explicit FTPS only; wrapping the socket at connect makes it implicit."""

    def connect(self, host="", port=0, timeout=10, source_address=None):
        self.host, self.port, self.timeout = host, port, timeout
        raw = socket.create_connection((host, port), timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


@pytest.mark.ftp_server(tls="implicit")
def test_download_over_implicit_tls(ftp_server):
    assert ftp_server.url.startswith("ftps://")
    ftp_server.put("report.pdf", b"%PDF-1.7")

    with ImplicitFTP_TLS(context=ftp_server.client_ssl_context()) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)  # no AUTH: already encrypted
        ftp.prot_p()
        data = io.BytesIO()
        ftp.retrbinary("RETR report.pdf", data.write)

    assert data.getvalue() == b"%PDF-1.7"


@pytest.mark.ftp_server(tls="implicit")
@pytest.mark.asyncio
async def test_aioftp_over_implicit_tls(ftp_server):
    ftp_server.put("hello.txt", b"hi")
    client = aioftp.Client(ssl=ftp_server.client_ssl_context())  # ssl=: implicit TLS
    await client.connect(ftp_server.host, ftp_server.port)
    try:
        await client.login(ftp_server.login, ftp_server.password)
        async with client.download_stream("hello.txt") as stream:
            assert await stream.read() == b"hi"
    finally:
        client.close()
