"""Storage backends behind one async interface (``AbstractPathIO``)."""

from .base import AbstractPathIO, FileReader, FileWriter
from .local import AsyncPathIO, PathIO
from .memory import MemoryPathIO

__all__ = ["AbstractPathIO", "AsyncPathIO", "FileReader", "FileWriter", "MemoryPathIO", "PathIO"]
