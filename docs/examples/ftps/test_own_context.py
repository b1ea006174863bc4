"""Your own server certificate: pass an ssl.SSLContext as ``ssl=`` instead of ``tls=``."""

import ftplib
import ssl

import pytest
import trustme


@pytest.fixture(scope="session")
def my_ca():
    return trustme.CA()  # or load your organisation's test certificates


@pytest.fixture
def tls_server(ftp_server_factory, my_ca):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    my_ca.issue_cert("127.0.0.1").configure_cert(context)
    return ftp_server_factory(ssl=context)  # explicit FTPS; add implicit_tls=True for ftps://


def test_with_my_certificate(tls_server, my_ca):
    client_context = ssl.create_default_context()
    my_ca.configure_trust(client_context)
    with ftplib.FTP_TLS(context=client_context) as ftp:
        ftp.connect(tls_server.host, tls_server.port)
        ftp.login(tls_server.login, tls_server.password)
        assert ftp.pwd() == "/"
    assert tls_server.ca_cert_path is None  # the test CA is not involved
