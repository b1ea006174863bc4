"""FTPS: a certificate from a per-session test CA that clients can verify."""

import ftplib
import io

import pytest


@pytest.mark.ftp_server(tls=True)  # explicit FTPS (AUTH TLS); tls="implicit" for ftps://
def test_upload_over_tls(ftp_server):
    # ftp_server.ca_cert_path is the CA's PEM file, e.g. for `curl --cacert`
    with ftplib.FTP_TLS(context=ftp_server.client_ssl_context()) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.prot_p()  # encrypt the data connection too
        ftp.storbinary("STOR secret.txt", io.BytesIO(b"for your eyes only"))

    assert ftp_server.read("secret.txt") == b"for your eyes only"
