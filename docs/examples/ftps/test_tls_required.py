"""tls_required=True: no login and no data transfer in clear text."""

import ftplib

import pytest


@pytest.mark.ftp_server(tls=True, tls_required=True)
def test_clear_text_login_is_refused(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        with pytest.raises(ftplib.error_perm, match=r"^530 TLS is required"):
            ftp.login(ftp_server.login, ftp_server.password)


@pytest.mark.ftp_server(tls=True, tls_required=True)
def test_clear_data_connections_are_refused(ftp_server):
    with ftplib.FTP_TLS(context=ftp_server.client_ssl_context()) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)  # fine: AUTH TLS came first
        with pytest.raises(ftplib.error_perm, match=r"^521"):
            ftp.nlst()  # PROT C (the default): refused
        ftp.prot_p()
        assert ftp.nlst() == []
