"""asyncio layer: the listener, sessions, data channels and throttles."""

from .server import LogEntry, Server, ServerError, Stats
from .session import Session

__all__ = ["LogEntry", "Server", "ServerError", "Session", "Stats"]
