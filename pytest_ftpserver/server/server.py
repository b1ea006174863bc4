"""The Server: listener, users, limits, statistics, session log and fault injection."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import errno
import ipaddress
import logging
import pathlib
import socket
import ssl as ssl_module
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, NamedTuple, SupportsIndex, overload

from ..pathio import AbstractPathIO, PathIO
from ..protocol import Command, User
from .data import direct_transports
from .ports import candidate_ports, listen_on
from .session import Session
from .session_base import SessionBase, format_reply
from .throttle import Throttle
from .tls import data_context

log = logging.getLogger("pytest_ftpserver")


@dataclasses.dataclass
class Stats:
    """Counters since the server started. Cheap enough to be always on."""

    connections_total: int = 0
    connections_active: int = 0
    connections_peak: int = 0
    logins: int = 0
    failed_logins: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    files_sent: int = 0
    files_received: int = 0
    commands: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


class LogEntry(NamedTuple):
    """One command of one session, with the reply it got. PASS arguments are masked."""

    session_id: int
    user: str | None
    verb: str
    argument: str
    code: int
    text: str
    bytes: int
    time: float

    def __str__(self) -> str:
        arg = f" {self.argument}" if self.argument else ""
        return (
            f"[{self.session_id}] > {self.verb}{arg}\n[{self.session_id}] < {self.code} {self.text}"
        )


class CommandLog(collections.deque[LogEntry]):
    """``Server.log``: a bounded deque of ``LogEntry`` that also takes slices, as a list
    does (``server.log[-3:]`` is a list of the last three).

    ``dropped`` counts the oldest entries pushed out by the bound (``log_limit``).
    """

    recorded = 0  # entries added by the server since the last clear()

    @property
    def dropped(self) -> int:
        return max(0, self.recorded - len(self))

    def clear(self) -> None:
        super().clear()
        self.recorded = 0

    @overload
    def __getitem__(self, index: SupportsIndex) -> LogEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[LogEntry]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> LogEntry | list[LogEntry]:
        if isinstance(index, slice):
            return list(self)[index]
        return super().__getitem__(index)


class ServerError(NamedTuple):
    """An unexpected exception inside the server, with where it happened."""

    session_id: int
    verb: str
    argument: str
    exception: BaseException
    traceback: str


@dataclasses.dataclass
class _Fault:
    verb: str
    kind: str  # "fail" | "delay" | "cut"
    times: int | None
    code: int = 451
    message: str | None = None
    seconds: float = 0.0
    after_bytes: int = 0


@dataclasses.dataclass
class _FaultPlan:
    """What a command meets: summed delays, the first failure, the first cut."""

    delay: float = 0.0
    fail: tuple[int, str] | None = None
    cut: int | None = None


_DEFAULT_FAIL_TEXT = {
    421: "Service not available, closing control connection.",
    425: "Can't open data connection.",
    426: "Connection closed; transfer aborted.",
    450: "Requested file action not taken.",
    451: "Requested action aborted: local error in processing.",
    452: "Requested action not taken: insufficient storage space.",
    500: "Syntax error, command unrecognized.",
    501: "Syntax error in parameters or arguments.",
    502: "Command not implemented.",
    530: "Not logged in.",
    550: "Requested action not taken: file unavailable.",
    552: "Requested file action aborted: exceeded storage allocation.",
    553: "Requested action not taken: file name not allowed.",
}


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number or None, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _port_list(ports: Iterable[int]) -> list[int]:
    """``passive_ports`` checked: PASV on an empty range, or a port past 65535, would fail
    every time, and only when a client asks."""
    if isinstance(ports, (str, bytes)) or not isinstance(ports, Iterable):
        raise TypeError(f"passive_ports must be an iterable of port numbers, got {ports!r}")
    checked = list(ports)
    if not checked:
        raise ValueError("passive_ports is empty: give at least one port (or None: any)")
    for port in checked:
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"passive_ports must hold ints, got {port!r}")
        if not 1 <= port <= 65535:
            raise ValueError(f"passive_ports must be in 1-65535, got {port}")
    return checked


#: How long to stop accepting when the process is out of file descriptors or memory.
ACCEPT_RETRY_DELAY = 1.0


class _Acceptor:
    """Accepts control connections on one listening socket, straight into transports.

    ``loop.create_server`` runs a task, a coroutine and a future for every connection it
    accepts; at test-suite login rates that was an eighth of the server's CPU per login.
    Here an accepted socket becomes a transport in one call. It uses the selector loop's
    ``_make_socket_transport`` (present in every CPython since 3.4); other loops, and
    implicit TLS, keep ``create_server``.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: Callable[[], Session]
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._make_transport = loop._make_socket_transport  # type: ignore[attr-defined]
        self._retry: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop.add_reader(self._fd, self._accept)

    def _accept(self) -> None:
        # One connection per readiness event: the selector is level-triggered, so more
        # waiting connections wake the loop again, and a sequential client (a test suite)
        # never pays for the accept() that finds the queue empty.
        try:
            conn, address = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another thread took it, or the client gave up while queued
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                # Out of descriptors or memory: pause, let sessions end, try again.
                log.warning(
                    "cannot accept a connection (%s); retrying in %.0f s",
                    exc,
                    ACCEPT_RETRY_DELAY,
                )
                self._loop.remove_reader(self._fd)
                self._retry = self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume)
                return
            raise
        session: Session | None = None
        try:
            conn.setblocking(False)
            session = self._protocol()
            session.greet_early(conn)
            transport = self._make_transport(conn, session, extra={"peername": address})
            # The transport calls connection_made in the next loop turn; calling it now
            # sets the session up a turn sooner (Session ignores the second call).
            session.connection_made(transport)
        except Exception:  # a socket that died while being set up
            log.exception("could not set up an accepted connection")
            if session is not None:  # admitted by greet_early: count it out again
                session.server._session_closed(session)
            conn.close()

    def _resume(self) -> None:
        self._retry = None
        if self._sock.fileno() >= 0:
            self.start()

    def close(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._fd)
            self._sock.close()


class Server:
    """An asyncio FTP server.

    ``Server()`` with no users serves anonymous logins with read and write rights on "/",
    mapped to the current directory. Use ``async with Server(...) as server`` or
    ``await server.start()`` / ``await server.close()``.
    """

    def __init__(
        self,
        users: Iterable[User] | None = None,
        *,
        path_io_factory: Callable[[], AbstractPathIO] = PathIO,
        maximum_connections: int | None = None,
        socket_timeout: float | None = None,
        path_timeout: float | None = None,
        idle_timeout: float | None = None,
        wait_future_timeout: float = 1,
        read_speed_limit: float | None = None,
        write_speed_limit: float | None = None,
        read_speed_limit_per_connection: float | None = None,
        write_speed_limit_per_connection: float | None = None,
        ssl: ssl_module.SSLContext | None = None,
        implicit_tls: bool = False,
        tls_required: bool = False,
        passive_ports: Iterable[int] | None = None,
        masquerade_address: str | None = None,
        allow_foreign_addresses: bool = False,
        allow_privileged_ports: bool = False,
        login_failure_delay: float = 0.5,
        max_login_failures: int = 3,
        log_limit: int = 10_000,
        banner: str = "pytest-ftpserver ready.",
    ) -> None:
        self.users: tuple[User, ...] = tuple(users) if users is not None else (User(),)
        """The accounts, in the order logins are matched (exact login first)."""
        for user in self.users:
            if not isinstance(user, User):
                raise TypeError(f"users must hold User objects, got {user!r}")
        for name, value in (
            ("socket_timeout", socket_timeout),
            ("path_timeout", path_timeout),
            ("idle_timeout", idle_timeout),
            ("wait_future_timeout", wait_future_timeout),
            ("read_speed_limit", read_speed_limit),
            ("write_speed_limit", write_speed_limit),
            ("read_speed_limit_per_connection", read_speed_limit_per_connection),
            ("write_speed_limit_per_connection", write_speed_limit_per_connection),
        ):
            _positive(name, value)
        if maximum_connections is not None:
            _positive("maximum_connections", maximum_connections)
        _positive("login_failure_delay", login_failure_delay, allow_zero=True)
        _positive("max_login_failures", max_login_failures)
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, got {ssl!r}")
        if (implicit_tls or tls_required) and ssl is None:
            raise ValueError("implicit_tls and tls_required need an ssl context (ssl=...)")
        self.path_io_factory = path_io_factory
        self.path_io: AbstractPathIO = path_io_factory()
        """The one storage backend shared by every session (an in-memory tree lives here)."""
        if not isinstance(self.path_io, AbstractPathIO):
            raise TypeError(
                f"path_io_factory must make an AbstractPathIO, got {type(self.path_io)!r}"
            )
        self.maximum_connections = maximum_connections
        self.socket_timeout = socket_timeout
        self.path_timeout = path_timeout
        self.idle_timeout = idle_timeout
        self.wait_future_timeout = wait_future_timeout
        self.ssl_context = ssl
        self._data_ssl: tuple[ssl_module.SSLContext, ssl_module.SSLContext] | None = None
        self.implicit_tls = implicit_tls
        self.tls_required = tls_required
        self.passive_ports = _port_list(passive_ports) if passive_ports is not None else None
        self.masquerade_address = masquerade_address
        self.allow_foreign_addresses = allow_foreign_addresses
        self.allow_privileged_ports = allow_privileged_ports
        self.login_failure_delay = login_failure_delay
        self.max_login_failures = max_login_failures
        self.banner = banner
        self._limits = {
            "read": read_speed_limit,
            "write": write_speed_limit,
            "read_per_connection": read_speed_limit_per_connection,
            "write_per_connection": write_speed_limit_per_connection,
        }
        self._global_throttles: dict[str, Throttle] = {
            direction: Throttle(rate)
            for direction, rate in (("read", read_speed_limit), ("write", write_speed_limit))
            if rate
        }
        self._any_limit = any(self._limits.values())
        self._user_throttles: dict[int, dict[str, Throttle]] = {}
        for index, user in enumerate(self.users):
            throttles = {}
            if user.read_speed_limit:
                throttles["read"] = Throttle(user.read_speed_limit)
            if user.write_speed_limit:
                throttles["write"] = Throttle(user.write_speed_limit)
            self._user_throttles[index] = throttles
        # Control lines are read through this (see Session.get_buffer); 16 KiB holds two
        # lines of the longest kind.
        self._receive_buffer = memoryview(bytearray(16 * 1024))
        self.stats = Stats()
        """Live counters since the server was made (``Stats``)."""
        self.log = CommandLog(maxlen=log_limit)
        """The last ``log_limit`` commands of every session, with replies (``LogEntry``)."""
        self.errors: list[ServerError] = []
        """Unexpected exceptions inside the server: our bugs, or a custom backend's."""
        self._faults: dict[str, list[_Fault]] = {}
        self._sessions: set[Session] = set()
        # Sessions that answered QUIT and close in the next loop turn: no longer counted
        # as active (see _session_leaving), still closed and waited for by close().
        self._leaving: set[SessionBase] = set()
        self._user_counts: dict[int, int] = {}
        self._listener: asyncio.AbstractServer | _Acceptor | None = None
        self._socket: socket.socket | None = None  # bound by listen(), not served yet
        # Set by close(): a connection accepted just before it is dropped on arrival.
        self._closing = False
        # Whether accepted sockets get SO_OOBINLINE from the listening socket.
        self._oob_inline_inherited = False
        self._session_ids = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] = ("", 0)
        """``(host, port)`` actually bound; ``("", 0)`` before ``start()``."""

    @property
    def banner(self) -> str:
        """The text of the 220 greeting."""
        return self._banner

    @banner.setter
    def banner(self, text: str) -> None:
        self._banner = text
        self._greeting = format_reply(220, text)  # as sent before a transport exists

    # -- lifecycle ----------------------------------------------------------------------
    def listen(self, host: str = "127.0.0.1", port: int = 0, *, backlog: int = 1024) -> None:
        """Bind and listen now, from any thread, without the event loop.

        ``host`` must be a numeric IPv4 or IPv6 address. Clients can connect at once: the
        kernel queues their connections until ``start()`` (with no ``host``/``port``)
        serves this socket. ``address`` is known on return. Starting a server this way
        saves the caller a round trip to the loop (the pytest fixture uses it).
        """
        if self._listener is not None or self._socket is not None:
            raise RuntimeError("server is already listening")
        self._closing = False
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        except ValueError:
            raise ValueError(f"listen() needs a numeric IP address, got {host!r}") from None
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when their
        # proto says TCP, and without it a reply written in two parts (150, then 226)
        # waits 40 ms for the client's delayed ACK.
        inherited = False

        def make_socket() -> socket.socket:
            nonlocal inherited
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # Accepted sockets inherit SO_OOBINLINE (Linux, BSD): one setsockopt per
                # server instead of one per connection (see Session.connection_made).
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
                    inherited = sys.platform.startswith(("linux", "darwin", "freebsd"))
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            except BaseException:
                sock.close()
                raise
            return sock

        # Port 0: a random free port, cheap even with thousands in TIME_WAIT (ports.py).
        sock = listen_on(make_socket, host, candidate_ports(port), backlog)
        sock.setblocking(False)
        self._socket = sock
        self._oob_inline_inherited = inherited
        sockname = sock.getsockname()
        self.address = (sockname[0], sockname[1])

    async def start(self, host: str | None = None, port: int | None = None, **kwargs: Any) -> None:
        """Bind and listen on ``host`` (default 127.0.0.1) and ``port`` (default 0: any
        free port); returns once the socket accepts connections.

        After ``listen()``, call it without ``host`` and ``port``: it serves that socket.
        """
        if self._listener is not None:
            raise RuntimeError("server is already started")
        listened = self._socket is not None
        if listened and (host is not None or port is not None):
            raise RuntimeError("server is already listening: call start() without host/port")
        self._closing = False
        self._loop = asyncio.get_running_loop()
        if self.path_io.creates_base_paths:
            # Each directory once (users often share their base path and home).
            directories: dict[pathlib.Path, None] = {}
            for user in self.users:
                directories[user.base_path] = None
                parts = pathlib.PurePosixPath(str(user.home_path)).parts[1:]
                if parts:
                    directories[user.base_path.joinpath(*parts)] = None
            for directory in directories:
                await self.path_io.mkdir(directory, parents=True, exist_ok=True)
        ssl = self.ssl_context if self.implicit_tls else None
        backlog = kwargs.pop("backlog", 1024)
        direct = ssl is None and not kwargs and direct_transports(self._loop)
        if not listened and direct:
            with contextlib.suppress(ValueError):  # a host name: create_server resolves it
                self.listen("127.0.0.1" if host is None else host, port or 0, backlog=backlog)
                listened = True
        if listened:
            sock = self._socket
            if sock is None:
                raise RuntimeError("server was closed before it started")
            if direct:
                acceptor = _Acceptor(self._loop, sock, lambda: Session(self))
                self._listener, self._socket = acceptor, None
                acceptor.start()
            else:
                # start_serving=False: the listener is ours before the first suspension,
                # so a close() that runs while start_serving() yields finds and closes it.
                listener = await self._loop.create_server(
                    lambda: Session(self), sock=sock, ssl=ssl, backlog=backlog,
                    start_serving=False, **kwargs,
                )
                self._listener, self._socket = listener, None
                await listener.start_serving()
        else:
            self._oob_inline_inherited = False
            self._listener = await self._loop.create_server(
                lambda: Session(self),
                "127.0.0.1" if host is None else host,
                0 if port is None else port,
                ssl=ssl,
                reuse_address=True,
                backlog=backlog,
                **kwargs,
            )
            sockname = self._listener.sockets[0].getsockname()
            self.address = (sockname[0], sockname[1])
        log.debug("listening on %s:%d", *self.address)

    async def close(self) -> None:
        """Stop listening and drop every session and data channel."""
        listener = self._stop_listening()
        sessions = list(self._sessions)
        for session in sessions:
            session.close()
        if sessions:
            # Let the aborted transports run their connection_lost callbacks.
            for _ in range(5):
                await asyncio.sleep(0)
        if isinstance(listener, asyncio.AbstractServer):
            if sys.version_info < (3, 12):
                # Returns at once once closed (3.12 waits for the connections as well).
                await listener.wait_closed()
            else:  # pragma: no cover -- depends on the Python version
                try:
                    await asyncio.wait_for(listener.wait_closed(), 1)
                except asyncio.TimeoutError:
                    log.debug("listener did not close within 1 s")

    def _close_if_idle(self) -> bool:
        """Close at once when no session is open (how most tests end); in the loop thread.

        Returns False, doing nothing, when ``close()`` has sessions to drop and wait for.
        """
        if self._sessions or (self._listener is None and self._socket is not None):
            return False
        self._stop_listening()  # closes the listening sockets now
        return True

    def _stop_listening(self) -> asyncio.AbstractServer | _Acceptor | None:
        """Close the listening socket (served or only listen()ed); returns the listener.

        Sets ``_closing``: a connection accepted just before is dropped when it arrives.
        """
        self._closing = True
        sock, self._socket = self._socket, None
        if sock is not None:  # listen() without start()
            sock.close()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        return listener

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_serving(self) -> bool:
        """Whether the server listens (from ``start()`` or ``listen()`` to ``close()``)."""
        return self._listener is not None or self._socket is not None

    # -- fault injection ----------------------------------------------------------------
    def fail(
        self, verb: str, code: int = 451, message: str | None = None, times: int | None = 1
    ) -> None:
        """Answer the next ``times`` commands ``verb`` with ``code`` instead of running them."""
        if not 100 <= int(code) <= 599:
            raise ValueError(f"code must be an FTP reply code (100-599), got {code!r}")
        self._add_fault(_Fault(verb.upper(), "fail", times, code=code, message=message))

    def delay(self, verb: str, seconds: float, times: int | None = None) -> None:
        """Send each reply to ``verb`` ``seconds`` later."""
        _positive("seconds", seconds)
        self._add_fault(_Fault(verb.upper(), "delay", times, seconds=seconds))

    def cut(self, verb: str, after_bytes: int = 0, times: int | None = 1) -> None:
        """Close the data connection after ``after_bytes`` (transfer verbs, reply 426), or
        drop the control connection without a reply (other verbs)."""
        if after_bytes < 0:
            raise ValueError(f"after_bytes must be >= 0, got {after_bytes!r}")
        self._add_fault(_Fault(verb.upper(), "cut", times, after_bytes=after_bytes))

    def reset_faults(self) -> None:
        """Forget every fault not yet used up."""
        self._faults.clear()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.times is not None and fault.times < 1:
            raise ValueError(f"times must be >= 1 or None, got {fault.times!r}")
        verb = {"XPWD": "PWD", "XCWD": "CWD", "XMKD": "MKD", "XRMD": "RMD", "XCUP": "CDUP"}.get(
            fault.verb, fault.verb
        )
        fault.verb = verb
        self._faults.setdefault(verb, []).append(fault)

    def _take_faults(self, verb: str) -> _FaultPlan | None:
        faults = self._faults.get(verb)
        if not faults:
            return None
        plan = _FaultPlan()
        for fault in list(faults):
            if fault.kind == "fail" and plan.fail is None:
                plan.fail = (
                    fault.code,
                    fault.message or _DEFAULT_FAIL_TEXT.get(fault.code, "Fault."),
                )
            elif fault.kind == "delay":
                plan.delay += fault.seconds
            elif fault.kind == "cut" and plan.cut is None:
                plan.cut = fault.after_bytes
            else:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    faults.remove(fault)
        if not faults:
            del self._faults[verb]
        return plan

    # -- session bookkeeping ------------------------------------------------------------
    def _next_session_id(self) -> int:
        self._session_ids += 1
        return self._session_ids

    def _loop_time(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _session_opened(self, session: Session) -> bool:
        stats = self.stats
        stats.connections_total += 1
        active = len(self._sessions) - len(self._leaving)  # QUIT answered: not counted
        if self.maximum_connections is not None and active >= self.maximum_connections:
            return False
        self._sessions.add(session)
        stats.connections_active = len(self._sessions) - len(self._leaving)
        if stats.connections_active > stats.connections_peak:
            stats.connections_peak = stats.connections_active
        return True

    def _session_leaving(self, session: SessionBase) -> None:
        """Count ``session`` out before its last reply (221 to QUIT) is sent: a test that
        reads the stats as soon as its client has that reply finds it gone. Its socket
        closes in the next loop turn (``_session_closed``)."""
        if session in self._sessions:
            self._leaving.add(session)
            self.stats.connections_active = len(self._sessions) - len(self._leaving)

    def _session_closed(self, session: Session) -> None:
        self._sessions.discard(session)
        self._leaving.discard(session)
        self.stats.connections_active = len(self._sessions) - len(self._leaving)

    def _find_user(self, login: str) -> User | None:
        """The account ``login`` names: an exact login first, else a catch-all (login=None)."""
        for user in self.users:
            if user.login == login:
                return user
        for user in self.users:
            if user.login is None:
                return user
        return None

    def _user_index(self, user: User) -> int:
        for index, candidate in enumerate(self.users):
            if candidate is user:
                return index
        raise ValueError("unknown user")  # pragma: no cover

    def _user_logged_in(self, user: User) -> bool:
        index = self._user_index(user)
        count = self._user_counts.get(index, 0)
        if user.maximum_connections is not None and count >= user.maximum_connections:
            return False
        self._user_counts[index] = count + 1
        return True

    def _user_logged_out(self, user: User) -> None:
        index = self._user_index(user)
        self._user_counts[index] = max(0, self._user_counts.get(index, 0) - 1)

    def _session_throttles(self, user: User) -> dict[str, Throttle]:
        """The throttles one session of ``user`` uses, keyed "<direction>..."."""
        throttles: dict[str, Throttle] = {}
        if not self._any_limit and not (
            user.read_speed_limit
            or user.write_speed_limit
            or user.read_speed_limit_per_connection
            or user.write_speed_limit_per_connection
        ):
            return throttles
        for direction in ("read", "write"):
            shared = self._global_throttles.get(direction)
            if shared is not None:
                throttles[direction + ":server"] = shared
            per_connection = self._limits[direction + "_per_connection"]
            if per_connection:
                throttles[direction + ":server-connection"] = Throttle(per_connection)
            user_shared = self._user_throttles[self._user_index(user)].get(direction)
            if user_shared is not None:
                throttles[direction + ":user"] = user_shared
            user_per_connection = getattr(user, f"{direction}_speed_limit_per_connection")
            if user_per_connection:
                throttles[direction + ":user-connection"] = Throttle(user_per_connection)
        return throttles

    def _data_ssl_context(self) -> ssl_module.SSLContext | None:
        """What data connections are wrapped with: ``ssl_context``, without TLS 1.3 session
        tickets (see tls.data_context)."""
        context = self.ssl_context
        if context is None:
            return None
        cached = self._data_ssl
        if cached is None or cached[0] is not context:
            cached = self._data_ssl = (context, data_context(context))
        return cached[1]

    @staticmethod
    def _same_host(host: str, other: str) -> bool:
        if host == other:
            return True
        try:
            a = ipaddress.ip_address(host.split("%")[0])
            b = ipaddress.ip_address(other.split("%")[0])
        except ValueError:
            return host == other
        if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
            a = a.ipv4_mapped
        if isinstance(b, ipaddress.IPv6Address) and b.ipv4_mapped is not None:
            b = b.ipv4_mapped
        return a == b

    # -- log and errors -----------------------------------------------------------------
    def _record(
        self, session: SessionBase, command: Command, code: int, text: str, nbytes: int
    ) -> None:
        user = session.user.login if session.user is not None else None
        log = self.log
        log.recorded += 1
        log.append(
            LogEntry(
                session.id,
                user if user is not None else (session._login_name or None),
                command.verb,
                command.masked_argument,
                code,
                text,
                nbytes,
                time.time(),
            )
        )

    def _internal_error(self, session: SessionBase, command: Command, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.errors.append(
            ServerError(session.id, command.verb, command.masked_argument, exc, text)
        )
        log.error("session %d: unexpected error in %s:\n%s", session.id, command.verb, text)

    def dialogue(self, session_id: int | None = None) -> str:
        """The control-channel dialogue of one session (or all), passwords masked."""
        lines = [str(e) for e in self.log if session_id is None or e.session_id == session_id]
        return "\n".join(lines)
