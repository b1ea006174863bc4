"""FTPS with the core server: any server-side ssl.SSLContext will do."""

import asyncio
import ftplib
import tempfile

from pytest_ftpserver import MemoryPathIO, Server, User
from pytest_ftpserver.testca import TestCA  # needs trustme (the "tls" extra)


def client(host: str, port: int, ca: TestCA) -> None:
    with ftplib.FTP_TLS(context=ca.client_ssl_context()) as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login("heidi", "pw")
        ftp.prot_p()
        print(ftp.nlst())


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        ca = TestCA(directory)  # writes ca.pem there; valid for 127.0.0.1, ::1, localhost
        server = Server(
            [User("heidi", "pw")],
            path_io_factory=MemoryPathIO,
            ssl=ca.server_ssl_context(),
            implicit_tls=False,  # True: TLS from the first byte (ftps://)
            tls_required=True,  # refuse USER/PASS and data transfers in clear text
        )
        async with server:
            await asyncio.to_thread(client, *server.address, ca)
        print("CA certificate for other clients:", ca.ca_cert_path.name)


asyncio.run(main())
