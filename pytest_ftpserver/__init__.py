"""pytest-ftpserver: a complete asyncio FTP/FTPS server for tests, and a pytest plugin."""

from .pathio import AbstractPathIO, AsyncPathIO, FileReader, FileWriter, MemoryPathIO, PathIO
from .protocol import FileStat, Permission, User
from .server import LogEntry, Server, ServerError, Stats

__version__ = "0.1.0"

__all__ = [
    "AbstractPathIO",
    "AsyncPathIO",
    "FileReader",
    "FileStat",
    "FileWriter",
    "LogEntry",
    "MemoryPathIO",
    "PathIO",
    "Permission",
    "Server",
    "ServerError",
    "Stats",
    "User",
    "__version__",
]
