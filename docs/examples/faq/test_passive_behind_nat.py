"""Passive mode behind NAT or in a container: announce another address, use fixed ports."""

import ftplib

import pytest

PASSIVE_PORTS = range(30000, 30010)  # publish these, e.g. docker run -p 30000-30009:30000-30009


@pytest.mark.ftp_server(masquerade_address="192.0.2.10", passive_ports=PASSIVE_PORTS)
def test_pasv_announces_the_public_address(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        reply = ftp.sendcmd("PASV")  # the reply only: nothing connects to 192.0.2.10 here
    # "227 Entering Passive Mode (192,0,2,10,p1,p2)": clients connect there.
    assert "(192,0,2,10," in reply
    p1, p2 = (int(n) for n in reply.rstrip(").").split(",")[-2:])
    assert p1 * 256 + p2 in PASSIVE_PORTS


@pytest.mark.ftp_server(passive_ports=PASSIVE_PORTS)
def test_transfers_use_the_published_ports(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        port = int(ftp.sendcmd("EPSV").split("|")[3])  # EPSV carries no address at all
        assert port in PASSIVE_PORTS
        ftp.nlst()  # ftplib opens its own passive connection: also from the range
