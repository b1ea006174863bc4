"""The core from synchronous code (unittest, scripts): run the server in its own thread."""

import asyncio
import ftplib
import threading
import unittest

from pytest_ftpserver import MemoryPathIO, Server, User


class BackgroundServer:
    """Starts a Server on an event loop of its own, in a daemon thread."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class UploadTest(unittest.TestCase):
    def setUp(self) -> None:
        background = BackgroundServer(Server([User("u", "p")], path_io_factory=MemoryPathIO))
        self.server = background.__enter__()
        self.addCleanup(background.__exit__, None, None, None)

    def test_mkdir(self) -> None:
        with ftplib.FTP() as ftp:
            ftp.connect(*self.server.address, timeout=10)
            ftp.login("u", "p")
            ftp.mkd("made-by-a-unittest")
        self.assertEqual(self.server.stats.commands["MKD"], 1)


if __name__ == "__main__":
    unittest.main()
