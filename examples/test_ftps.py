"""Explicit FTPS (AUTH TLS) with ftplib, verifying the server's certificate."""

import ftplib
import io
import sys

import aioftp
import pytest


@pytest.mark.ftp_server(tls=True)  # explicit FTPS; tls="implicit" for ftps://
def test_upload_over_tls(ftp_server):
    context = ftp_server.client_ssl_context()  # trusts the session's test CA
    with ftplib.FTP_TLS(context=context) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)  # sends AUTH TLS first
        ftp.prot_p()  # PBSZ 0 + PROT P: encrypt the data connections too
        ftp.storbinary("STOR secret.txt", io.BytesIO(b"for your eyes only"))

    assert ftp_server.read("secret.txt") == b"for your eyes only"
    assert ftp_server.ca_cert_path.name == "ca.pem"  # a PEM file, for other clients
    ftp_server.assert_received("AUTH", "TLS")
    ftp_server.assert_received("PROT", "P")


@pytest.mark.ftp_server(tls=True)
def test_clear_text_still_works_unless_required(ftp_server):
    with ftplib.FTP() as ftp:  # no AUTH TLS at all
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        assert "AUTH TLS" in ftp.sendcmd("FEAT")


@pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="aioftp's upgrade_to_tls() needs StreamWriter.start_tls(), new in Python 3.11",
)
@pytest.mark.ftp_server(tls=True)
@pytest.mark.asyncio
async def test_aioftp_explicit(ftp_server):
    ftp_server.put("hello.txt", b"hi")
    client = aioftp.Client()
    await client.connect(ftp_server.host, ftp_server.port)
    try:
        await client.upgrade_to_tls(ftp_server.client_ssl_context())  # AUTH TLS, PBSZ, PROT P
        await client.login(ftp_server.login, ftp_server.password)
        async with client.download_stream("hello.txt") as stream:
            assert await stream.read() == b"hi"
    finally:
        client.close()
