"""Two accounts with different rights: an owner of /ada, and an anonymous reader of /pub."""

import asyncio
import ftplib
import io

from pytest_ftpserver import MemoryPathIO, Permission, Server, User

users = [
    # Ada starts in /ada and may read and write there, and nowhere else.
    User(
        "ada",
        "analytical-engine",
        home_path="/ada",
        permissions=[
            Permission("/", readable=False, writable=False),
            Permission("/ada", readable=True, writable=True),
        ],
    ),
    # Anyone else (login=None, no password) starts in /pub and may only read it.
    User(
        home_path="/pub",
        permissions=[
            Permission("/", readable=False, writable=False),
            Permission("/pub", readable=True, writable=False),
        ],
    ),
]


def as_ada(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login("ada", "analytical-engine")
        assert ftp.pwd() == "/ada"
        ftp.storbinary("STOR notes.txt", io.BytesIO(b"bernoulli numbers"))
        try:
            ftp.nlst("/")  # outside her tree
        except ftplib.error_perm as refused:
            print("ada, listing /:", refused)


def as_anonymous(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login()  # "anonymous"
        assert ftp.pwd() == "/pub"
        data = io.BytesIO()
        ftp.retrbinary("RETR welcome.txt", data.write)
        print("anonymous read:", data.getvalue())
        try:
            ftp.storbinary("STOR graffiti.txt", io.BytesIO(b"!"))
        except ftplib.error_perm as refused:
            print("anonymous, uploading:", refused)


async def main() -> None:
    async with Server(users, path_io_factory=MemoryPathIO) as server:
        # MemoryPathIO starts empty; the server made each user's home at start.
        await server.path_io.write_bytes(users[1].base_path / "pub" / "welcome.txt", b"hi")
        await asyncio.to_thread(as_ada, *server.address)
        await asyncio.to_thread(as_anonymous, *server.address)


asyncio.run(main())
