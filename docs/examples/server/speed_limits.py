"""Speed limits, in bytes per second, at four levels.

"write" limits what the server sends (downloads, RETR); "read" limits what it receives
(uploads, STOR). Every limit that applies to a transfer is obeyed at once.
"""

import asyncio
import ftplib
import time

from pytest_ftpserver import MemoryPathIO, Server, User

users = [
    User(
        "frank",
        "pw",
        write_speed_limit=400_000,  # all of frank's downloads together
        write_speed_limit_per_connection=200_000,  # each of frank's sessions
    ),
    User("grace", "pw"),  # only the server's limits apply to her
]

server = Server(
    users,
    path_io_factory=MemoryPathIO,
    read_speed_limit=4_000_000,  # all uploads to this server together
    write_speed_limit=4_000_000,  # all downloads from this server together
    read_speed_limit_per_connection=1_000_000,  # each session's uploads
    write_speed_limit_per_connection=1_000_000,  # each session's downloads
)


def download(host: str, port: int, login: str) -> float:
    started = time.monotonic()
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login(login, "pw")
        ftp.retrbinary("RETR file.bin", lambda block: None)
    return time.monotonic() - started


async def main() -> None:
    async with server:
        await server.path_io.write_bytes(users[0].base_path / "file.bin", bytes(100_000))
        frank = await asyncio.to_thread(download, *server.address, "frank")
        grace = await asyncio.to_thread(download, *server.address, "grace")
    # 100 kB at 200 kB/s is about half a second; at 1 MB/s about a tenth.
    print(f"frank: {frank:.2f} s, grace: {grace:.2f} s")
    assert frank >= 0.3  # a generous lower bound: the limit is the behaviour shown here


asyncio.run(main())
