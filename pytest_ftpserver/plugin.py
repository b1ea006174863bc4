"""The pytest layer: ``ftp_server``, ``ftp_server_factory``, markers, options, reports.

Every server of a pytest session runs in one background thread that owns one asyncio event
loop (started the first time a server is needed, stopped and joined when the session ends).
Sync tests talk to their server over real sockets from the main thread; ``async def`` tests
do the same from their own pytest-asyncio loop, whatever its scope, because the server is
never on the test's loop. The fixture's helpers (``put``, ``read``, the fault methods...)
hop onto the server thread for the few microseconds they need.

Defaults, in the order they are overridden (the closest wins)::

    built-in defaults  <  ini (``ftp_server_*``)  <  command line (``--ftp-server-*``)
        <  module marker  <  class marker  <  function marker

Default users: ``user`` with a random password (``ftp_server.login`` /
``ftp_server.password``) and ``anonymous`` (any password or none), both read-write on the
whole per-test tree, as in the tutorial. Any ``ftp_user`` marker replaces both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import difflib
import functools
import inspect
import ipaddress
import itertools
import os
import pathlib
import secrets
import ssl
import threading
import traceback
import types
import typing
from collections.abc import (
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Literal, TypeVar, Union

import pytest

from pytest_ftpserver import (
    AbstractPathIO,
    AsyncPathIO,
    LogEntry,
    MemoryPathIO,
    PathIO,
    Permission,
    Server,
    ServerError,
    Stats,
    User,
)

from .testca import TestCA

__all__ = [
    "BACKENDS",
    "EventLoopThread",
    "FTPServerFactory",
    "FTPServerHandle",
    "FTPServerOptionError",
    "format_dialogue",
]

T = TypeVar("T")

#: ``backend=`` shorthands for ``path_io_factory``.
BACKENDS: dict[str, type[AbstractPathIO]] = {
    "tmp_path": PathIO,
    "memory": MemoryPathIO,
    "async": AsyncPathIO,
}

#: Marker / factory options that are not ``Server`` keywords.
PLUGIN_OPTIONS = ("backend", "tls", "host", "port")

DEFAULT_LOGIN = "user"
ANONYMOUS_LOGIN = "anonymous"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_BACKEND = "tmp_path"

#: ``Server`` defaults that differ in tests: a failed login is still delayed (a client's
#: retry logic sees the same shape), but by 10 ms instead of the server's 0.5 s.
TEST_SERVER_DEFAULTS: dict[str, Any] = {"login_failure_delay": 0.01}

#: Upper bound for one call into the server thread (start, close, a helper). Only a
#: wedged server ever gets near it; it exists so that a bug hangs nothing forever.
CALL_TIMEOUT = 30.0

#: Timeout options that can be given in the ini file and on the command line.
TIMEOUT_OPTIONS = ("socket_timeout", "idle_timeout", "path_timeout")

#: Dialogue lines kept per session in a failure report (head and tail are shown).
DIALOGUE_LINES_PER_SESSION = 120


class FTPServerOptionError(ValueError):
    """An option given to a marker, to the factory or in the configuration is wrong."""


# --------------------------------------------------------------------------------------
# The server thread
# --------------------------------------------------------------------------------------


class EventLoopThread:
    """One asyncio loop running in a daemon thread, started on first use."""

    def __init__(self, name: str = "pytest-ftpserver") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, starting the thread if needed."""
        loop = self._loop
        if loop is None:
            loop = self._start()
        return loop

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    asyncio.set_event_loop(None)

            thread = threading.Thread(target=run, name=self.name, daemon=True)
            thread.start()
            ready.wait()
            self._thread = thread
            self._loop = loop
            return loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = CALL_TIMEOUT) -> T:
        """Run ``coro`` on the loop and wait for its result from this (other) thread."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("cannot wait for the server thread from inside it")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the FTP server thread did not answer within {timeout} s") from None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop without waiting; its outcome is in the future."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("submit() is for other threads than the server thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, function: Callable[[], T], timeout: float | None = CALL_TIMEOUT) -> T:
        """Call a plain function on the loop thread (to touch server state safely)."""
        if self._loop is None or self.in_loop_thread():
            return function()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def callback() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(function())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(callback)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the FTP server thread did not answer within {timeout} s") from None

    def stop(self, timeout: float = CALL_TIMEOUT) -> None:
        """Cancel what is left, shut the default executor down, stop and join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()
            # AsyncPathIO (aiofiles) runs file calls in the default executor's threads.
            await loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not thread.is_alive():
                loop.close()


# --------------------------------------------------------------------------------------
# Paths and dialogue formatting
# --------------------------------------------------------------------------------------


def _virtual_parts(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The parts of a virtual path below the served root; ``..`` never climbs above it."""
    parts: list[str] = []
    for part in str(os.fspath(path)).replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return tuple(parts)


def _entry_field(entry: Any, name: str, default: Any = None) -> Any:
    return getattr(entry, name, default)


def _command_text(entry: Any) -> str:
    verb = _entry_field(entry, "verb") or ""
    argument = _entry_field(entry, "argument")
    return f"{verb} {argument}" if argument not in (None, "") else str(verb)


def _session_lines(entries: Sequence[Any]) -> list[str]:
    lines: list[str] = []
    previous: tuple[Any, ...] | None = None
    repeats = 0

    def flush_repeats() -> None:
        if repeats:
            times = "time" if repeats == 1 else "times"
            lines.append(f"    ... the same command and reply {repeats} more {times}")

    for entry in entries:
        verb = _entry_field(entry, "verb")
        code = _entry_field(entry, "code")
        text = str(_entry_field(entry, "text") or "")
        moved = _entry_field(entry, "bytes") or 0
        key = (verb, _entry_field(entry, "argument"), code, text)
        if key == previous:
            repeats += 1
            continue
        flush_repeats()
        repeats = 0
        previous = key
        if verb:
            lines.append(f"  > {_command_text(entry)}")
        reply_lines = text.splitlines() or [""]
        prefix = f"{code} " if code is not None else ""
        suffix = f"   [{moved} bytes on the data channel]" if moved else ""
        lines.append(f"  < {prefix}{reply_lines[0]}{suffix if len(reply_lines) == 1 else ''}")
        for extra in reply_lines[1:]:
            lines.append(f"  < {extra}")
        if len(reply_lines) > 1 and suffix:
            lines.append(f"   {suffix.strip()}")
    flush_repeats()
    if len(lines) > DIALOGUE_LINES_PER_SESSION:
        head = DIALOGUE_LINES_PER_SESSION // 2
        tail = DIALOGUE_LINES_PER_SESSION - head
        skipped = len(lines) - head - tail
        lines = [*lines[:head], f"    ... {skipped} lines folded ...", *lines[-tail:]]
    return lines


def format_dialogue(entries: Iterable[Any]) -> str:
    """The control-channel dialogue of every session in ``entries`` (a server log).

    Client lines start with ``>``, server replies with ``<``; passwords are masked by the
    server's log already; runs of an identical command and reply are folded.
    """
    sessions: dict[Any, list[Any]] = {}
    for entry in entries:
        sessions.setdefault(_entry_field(entry, "session_id"), []).append(entry)
    if not sessions:
        return "(no client connected to this server)"
    blocks: list[str] = []
    dropped = getattr(entries, "dropped", 0)
    if dropped:  # a server log past its log_limit: the oldest sessions start cut
        keeps = getattr(entries, "maxlen", None)
        blocks.append(
            f"({dropped} earlier log entries were dropped: the log keeps the last {keeps},"
            " the server's log_limit)"
        )
    for session_id, session_entries in sessions.items():
        users = [u for u in (_entry_field(e, "user") for e in session_entries) if u]
        who = f" (logged in as {users[-1]!r})" if users else ""
        blocks.append("\n".join([f"session {session_id}{who}:", *_session_lines(session_entries)]))
    return "\n".join(blocks)


def _format_received(entries: Sequence[Any]) -> str:
    if not entries:
        return "  (no command was received)"
    return "\n".join(
        f"  session {_entry_field(e, 'session_id')}: {_command_text(e)}"
        f" -> {_entry_field(e, 'code')}"
        for e in entries
        if _entry_field(e, "verb")
    )


# --------------------------------------------------------------------------------------
# The handle
# --------------------------------------------------------------------------------------


class FTPServerHandle:
    """A running server as a test sees it (what ``ftp_server`` returns)."""

    def __init__(
        self,
        *,
        server: Server,
        loop_thread: EventLoopThread,
        users: Sequence[User],
        root: pathlib.Path | None,
        backend_root: pathlib.Path,
        backend: str,
        test_ca: TestCA | None,
        implicit_tls: bool,
        started: concurrent.futures.Future[None] | None = None,
    ) -> None:
        self.server = server
        # Set when the server listens already but the loop may not serve it yet.
        self._started = started
        self._loop_thread = loop_thread
        self.users: list[User] = list(users)
        #: The real directory served (tmp_path and async backends), else ``None``.
        self.root = root
        self._backend_root = backend_root
        self.backend = backend
        self._test_ca = test_ca
        self.implicit_tls = implicit_tls
        host, port = server.address[0], server.address[1]
        self.host: str = str(host)
        self.port: int = int(port)
        first = self.users[0] if self.users else None
        #: Credentials of the first user (the default read-write user by default).
        self.login: str = first.login if first and first.login is not None else ANONYMOUS_LOGIN
        self.password: str = first.password if first and first.password is not None else ""
        self.closed = False

    # -- addresses ----------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on."""
        return (self.host, self.port)

    @property
    def url(self) -> str:
        """``ftp://HOST:PORT`` (``ftps://`` with implicit TLS; IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "ftps" if self.implicit_tls else "ftp"
        return f"{scheme}://{host}:{self.port}"

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<FTPServerHandle {self.url} backend={self.backend}{state}>"

    def stop(self) -> None:
        """Stop the server now: close every session and stop listening.

        For testing a client against a server that goes away. Errors the server recorded
        are still reported at teardown; stopping twice is harmless.
        """
        if not self._loop_thread.call(self._close_now):
            self._loop_thread.run(self._close())

    def _close_now(self) -> bool:
        """(In the loop) close in one step if the server is idle and started; else False."""
        started = self._started
        if started is not None and (not started.done() or started.exception() is not None):
            return False
        return self.server._close_if_idle()

    async def _close(self) -> None:
        """(In the loop) let a quick start finish, then close; a failed start is raised."""
        failure: BaseException | None = None
        started = self._started
        if started is not None:
            try:
                await asyncio.wrap_future(started)
            except BaseException as exc:
                failure = exc
        await self.server.close()
        if failure is not None:
            raise failure

    # -- what happened --------------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        """The server's live counters (``Stats``)."""
        return self.server.stats

    @property
    def log(self) -> list[LogEntry]:
        """A snapshot of the server's log entries (``LogEntry``), oldest first."""
        return self._loop_thread.call(lambda: list(self.server.log))

    @property
    def errors(self) -> list[ServerError]:
        """Unexpected exceptions raised inside the server so far (``ServerError``)."""
        return self._loop_thread.call(lambda: list(self.server.errors))

    def dialogue(self) -> str:
        """The control-channel dialogue of every session so far, as in failure reports."""
        return format_dialogue(self.log)

    def assert_received(
        self, verb: str, argument: str | None = None, count: int | None = None
    ) -> list[LogEntry]:
        """Check that ``verb`` (with ``argument``, if given) was received.

        ``count=None`` means at least once; otherwise exactly ``count`` times. Returns the
        matching log entries; raises ``AssertionError`` listing what was received instead.
        """
        verb = verb.upper()
        entries = self.log
        matches = [
            e
            for e in entries
            if str(_entry_field(e, "verb") or "").upper() == verb
            and (argument is None or _entry_field(e, "argument") == argument)
        ]
        if (count is None and matches) or (count is not None and len(matches) == count):
            return matches
        wanted = verb if argument is None else f"{verb} {argument}"
        expected = "at least once" if count is None else f"{count} time(s)"
        raise AssertionError(
            f"expected {wanted!r} to be received {expected}, it was received "
            f"{len(matches)} time(s); the server received:\n{_format_received(entries)}"
        )

    # -- faults (delegated to the core Server, on its thread) ------------------------------

    def fail(
        self, verb: str, code: int = 451, message: str | None = None, times: int | None = 1
    ) -> None:
        """Answer the next ``times`` ``verb`` commands with ``code`` (``times=None``: all)."""
        self._loop_thread.call(lambda: self.server.fail(verb, code, message, times))

    def delay(self, verb: str, seconds: float, times: int | None = None) -> None:
        """Send each reply to ``verb`` ``seconds`` later (the next ``times`` ones, if given)."""
        self._loop_thread.call(lambda: self.server.delay(verb, seconds, times))

    def cut(self, verb: str, after_bytes: int = 0, times: int | None = 1) -> None:
        """Close the data connection after ``after_bytes`` and reply 426 (transfer and
        listing verbs), or drop the control connection without a reply (other verbs)."""
        self._loop_thread.call(lambda: self.server.cut(verb, after_bytes, times))

    def reset_faults(self) -> None:
        """Forget every fault not yet used up."""
        self._loop_thread.call(self.server.reset_faults)

    # -- TLS --------------------------------------------------------------------------------

    @property
    def ca_cert_path(self) -> pathlib.Path | None:
        """The test CA's certificate (PEM) when the server uses ``tls=``; else ``None``."""
        return self._test_ca.ca_cert_path if self._test_ca is not None else None

    def client_ssl_context(self) -> ssl.SSLContext:
        """A new client context that trusts this server's certificate."""
        if self._test_ca is None:
            raise RuntimeError(
                "this server has no test certificate: use @pytest.mark.ftp_server(tls=True) "
                "or tls='implicit' (with your own ssl=, build the client context yourself)"
            )
        return self._test_ca.client_ssl_context()

    # -- files --------------------------------------------------------------------------------

    def _local_path(self, path: str | os.PathLike[str]) -> pathlib.Path | None:
        """The real path, when the backend serves real files under ``root``."""
        if self.root is not None and type(self.server.path_io) in (PathIO, AsyncPathIO):
            return self.root.joinpath(*_virtual_parts(path))
        return None

    def _backend_path(self, path: str | os.PathLike[str]) -> pathlib.Path:
        return self._backend_root.joinpath(*_virtual_parts(path))

    def _io(self, make: Callable[[AbstractPathIO], Coroutine[Any, Any, T]]) -> T:
        path_io = self.server.path_io

        async def run() -> T:
            return await make(path_io)

        return self._loop_thread.run(run())

    def put(self, path: str | os.PathLike[str], data: bytes | str) -> None:
        """Create or replace a file of the served tree; parents are made. ``str`` is UTF-8."""
        if isinstance(data, str):
            content = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            content = bytes(data)
        else:  # bytes(3) would be three NUL bytes
            raise TypeError(f"put() takes bytes or str, got {type(data).__name__}")
        local = self._local_path(path)
        if local is not None:
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
            return
        target = self._backend_path(path)
        self._io(lambda io: io.write_bytes(target, content))

    def read(self, path: str | os.PathLike[str]) -> bytes:
        """The content of a file of the served tree."""
        local = self._local_path(path)
        if local is not None:
            return local.read_bytes()
        target = self._backend_path(path)
        return self._io(lambda io: io.read_bytes(target))

    def exists(self, path: str | os.PathLike[str]) -> bool:
        local = self._local_path(path)
        if local is not None:
            return local.exists()
        target = self._backend_path(path)
        return self._io(lambda io: io.exists(target))

    def listdir(self, path: str | os.PathLike[str] = "/") -> list[str]:
        """Names in a directory of the served tree, sorted."""
        local = self._local_path(path)
        if local is not None:
            return sorted(os.listdir(local))
        target = self._backend_path(path)

        async def names(io: AbstractPathIO) -> list[str]:
            return sorted(name for name, _ in await io.list(target))

        return self._io(names)

    def mkdir(self, path: str | os.PathLike[str]) -> None:
        """Make a directory of the served tree (and its parents); no error if it exists."""
        local = self._local_path(path)
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)
            return
        target = self._backend_path(path)
        self._io(lambda io: io.mkdir(target, parents=True, exist_ok=True))


# --------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------


@functools.cache
def _server_keywords() -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(Server).parameters
    return {
        name: p
        for name, p in parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


@functools.cache
def _type_hints(function: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # a hint we cannot resolve: skip our checks, the core still checks
        return {}


def _matches_hint(value: Any, hint: Any) -> bool | None:
    """Whether ``value`` fits ``hint``; ``None`` when the hint is beyond this simple check."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        results = [_matches_hint(value, arg) for arg in typing.get_args(hint)]
        if any(r is True for r in results):
            return True
        return False if all(r is False for r in results) else None
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is type:
        return isinstance(value, type)
    if (
        origin is not None
        and origin.__module__ == "collections.abc"
        and origin.__name__ == ("Callable")
    ):
        return callable(value)
    if isinstance(hint, type) and origin is None:
        return isinstance(value, hint)
    return None


def _hint_text(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if isinstance(hint, type) else None
    return text or str(hint).replace("typing.", "")


def _check_types(
    values: Mapping[str, Any], function: Any, where: str, skip: Iterable[str] = ()
) -> None:
    hints = _type_hints(function)
    skipped = set(skip)
    for name, value in values.items():
        if name in skipped or name not in hints:
            continue
        if _matches_hint(value, hints[name]) is False:
            raise FTPServerOptionError(
                f"{where}: option {name!r} must be {_hint_text(hints[name])}, "
                f"got {value!r} ({type(value).__name__})"
            )


def _unknown(where: str, name: str, valid: Iterable[str]) -> str:
    choices = sorted(valid)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{where}: unknown option {name!r}{hint}; valid options: {', '.join(choices)}"


def validate_server_options(options: Mapping[str, Any], where: str) -> None:
    """Raise :class:`FTPServerOptionError` naming the first wrong option."""
    keywords = _server_keywords()
    for name in options:
        if name not in keywords and name not in PLUGIN_OPTIONS:
            raise FTPServerOptionError(_unknown(where, name, [*PLUGIN_OPTIONS, *keywords]))
    backend = options.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise FTPServerOptionError(
            f"{where}: option 'backend' must be one of {', '.join(map(repr, BACKENDS))}, "
            f"got {backend!r}"
        )
    if backend is not None and options.get("path_io_factory") is not None:
        raise FTPServerOptionError(
            f"{where}: give either option 'backend' or option 'path_io_factory', not both"
        )
    tls = options.get("tls", False)
    if tls not in (None, False, True, "explicit", "implicit"):
        raise FTPServerOptionError(
            f"{where}: option 'tls' must be True, 'explicit', 'implicit' or False, got {tls!r}"
        )
    if tls and options.get("ssl") is not None:
        raise FTPServerOptionError(
            f"{where}: give either option 'tls' (a test certificate) or option 'ssl' "
            "(your own context), not both"
        )
    host = options.get("host")
    if host is not None and not isinstance(host, str):
        raise FTPServerOptionError(f"{where}: option 'host' must be a str, got {host!r}")
    port = options.get("port")
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535
    ):
        raise FTPServerOptionError(f"{where}: option 'port' must be an int in 0..65535")
    users = options.get("users")
    if users is not None and (isinstance(users, (str, bytes)) or not isinstance(users, Iterable)):
        raise FTPServerOptionError(f"{where}: option 'users' must be a list of User objects")
    _check_types(
        {k: v for k, v in options.items() if k not in PLUGIN_OPTIONS},
        Server.__init__,
        where,
        skip=("users",),
    )


@functools.cache
def _user_keywords() -> frozenset[str]:
    return frozenset(inspect.signature(User).parameters)


def make_user(where: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> User:
    """A ``User`` from ``ftp_user`` marker arguments, with errors naming the option."""
    if len(args) > 2:
        raise FTPServerOptionError(
            f"{where}: takes at most two positional arguments (login, password), got {len(args)}"
        )
    values: dict[str, Any] = dict(zip(("login", "password"), args, strict=False))
    for name, value in kwargs.items():
        if name in values:
            raise FTPServerOptionError(f"{where}: option {name!r} given twice")
        values[name] = value
    known = _user_keywords()
    for name in values:
        if name not in known:
            raise FTPServerOptionError(_unknown(where, name, known))
    for name in ("login", "password"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            raise FTPServerOptionError(
                f"{where}: option {name!r} must be a str or None, got {value!r}"
            )
    permissions = values.get("permissions")
    if permissions is not None:
        if isinstance(permissions, Permission):
            values["permissions"] = permissions = [permissions]
        if isinstance(permissions, (str, bytes)) or not isinstance(permissions, Iterable):
            raise FTPServerOptionError(
                f"{where}: option 'permissions' must be a list of Permission objects"
            )
    _check_types(values, User, where, skip=("permissions", "base_path", "home_path"))
    try:
        return User(**values)
    except (TypeError, ValueError) as exc:
        raise FTPServerOptionError(f"{where}: {exc}") from exc


def _as_user(value: Any, where: str) -> User:
    if isinstance(value, User):
        return value
    if isinstance(value, Mapping):
        return make_user(where, (), value)
    raise FTPServerOptionError(f"{where}: users must be User objects or dicts, got {value!r}")


def _parse_float(text: str, name: str) -> float | None:
    text = text.strip()
    if not text or text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise pytest.UsageError(f"{name}: expected a number of seconds, got {text!r}") from None


def config_defaults(config: pytest.Config) -> dict[str, Any]:
    """Options from the command line, else from the ini file (only those set)."""
    defaults: dict[str, Any] = {}

    def pick(name: str, parse: Callable[[str, str], Any]) -> None:
        value = config.getoption(f"ftp_server_{name}", None)
        if value is not None:
            defaults[name] = value
            return
        raw = config.getini(f"ftp_server_{name}")
        if isinstance(raw, str) and raw.strip():
            parsed = parse(raw, f"ini option ftp_server_{name}")
            if parsed is not None:
                defaults[name] = parsed

    pick("host", lambda text, _: text.strip())
    pick("backend", lambda text, _: text.strip())
    for name in TIMEOUT_OPTIONS:
        pick(name, _parse_float)
    backend = defaults.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise pytest.UsageError(
            f"ftp_server_backend must be one of {', '.join(BACKENDS)}, got {backend!r}"
        )
    return defaults


def marker_options(node: pytest.Item) -> tuple[dict[str, Any], list[User] | None]:
    """Options from ``ftp_server`` markers (merged per key, the closest wins) and the users
    of the closest node that has ``ftp_user`` markers (``None`` when there are none)."""
    options: dict[str, Any] = {}
    # iter_markers yields the closest first; apply the farthest first so closer ones win.
    for mark in reversed(list(node.iter_markers("ftp_server"))):
        if mark.args:
            raise FTPServerOptionError(
                "@pytest.mark.ftp_server takes keyword arguments only, "
                f"got positional {mark.args!r}"
            )
        options.update(mark.kwargs)
    users: list[User] | None = None
    closest: Any = None
    user_marks: list[Any] = []
    for owner, mark in node.iter_markers_with_node("ftp_user"):
        if closest is None:
            closest = owner
        if owner is not closest:
            break
        user_marks.append(mark)
    if user_marks:
        # Stacked decorators are stored bottom-up: reverse to read them top-down.
        users = [make_user("@pytest.mark.ftp_user", m.args, m.kwargs) for m in reversed(user_marks)]
    return options, users


# --------------------------------------------------------------------------------------
# The factory
# --------------------------------------------------------------------------------------


class _PluginState:
    """Per-config state: the server thread and every server still running."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.loop_thread = EventLoopThread()
        self.live: dict[int, Server] = {}
        self._defaults: dict[str, Any] | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """Options set on the command line or in the ini file (read once)."""
        if self._defaults is None:
            self._defaults = config_defaults(self.config)
        return self._defaults

    def shutdown(self) -> None:
        if not self.loop_thread.running:
            return
        live = list(self.live.values())
        self.live.clear()

        async def close_all() -> None:
            await asyncio.gather(*(s.close() for s in live), return_exceptions=True)

        try:
            if live:
                self.loop_thread.run(close_all())
        finally:
            self.loop_thread.stop()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        self.shutdown()


_STATE_KEY = pytest.StashKey[_PluginState]()
_HANDLES_KEY = pytest.StashKey[list[FTPServerHandle]]()
_DIALOGUE_SHOWN_KEY = pytest.StashKey[bool]()
_FACTORY_KEY = pytest.StashKey["FTPServerFactory"]()


def _state(config: pytest.Config) -> _PluginState:
    return config.stash[_STATE_KEY]


class FTPServerFactory:
    """What ``ftp_server_factory`` returns: call it to get another running server."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._state = _state(request.config)
        self._tmp_path: pathlib.Path | None = None
        self._numbers = itertools.count(1)
        self.handles: list[FTPServerHandle] = []
        # Shared by ftp_server and ftp_server_factory (see _test_factory): the server that
        # ftp_server made, and errors found at the teardown of the fixture that did not
        # make the factory, reported with the maker's own (torn down last, as set up first).
        self.fixture_handle: FTPServerHandle | None = None
        self.deferred_errors: list[tuple[FTPServerHandle, ServerError]] = []

    def __call__(
        self, *, users: Iterable[User | Mapping[str, Any]] | None = None, **options: Any
    ) -> FTPServerHandle:
        """Start a server with marker-style options; it is stopped at the end of the test."""
        where = "ftp_server_factory()"
        user_list: list[User] | None = None
        if users is not None:
            if isinstance(users, (str, bytes, Mapping, User)) or not isinstance(users, Iterable):
                raise FTPServerOptionError(f"{where}: users must be a list of users")
            user_list = [_as_user(u, where) for u in users]
        return self.create(options, user_list, where)

    def _root_directory(self) -> pathlib.Path:
        if self._tmp_path is None:
            self._tmp_path = pathlib.Path(self._request.getfixturevalue("tmp_path"))
        number = next(self._numbers)
        root = self._tmp_path / ("ftp-root" if number == 1 else f"ftp-root-{number}")
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _test_ca(self) -> TestCA:
        ca: TestCA = self._request.getfixturevalue("ftp_server_ca")
        return ca

    def create(
        self, options: Mapping[str, Any], users: Sequence[User] | None, where: str
    ) -> FTPServerHandle:
        """Start a server from already collected ``options`` and ``users``."""
        options = {**TEST_SERVER_DEFAULTS, **self._state.defaults, **options}
        validate_server_options(options, where)
        if users is not None and options.get("users") is not None:
            raise FTPServerOptionError(
                f"{where}: give the users either with @pytest.mark.ftp_user or with the "
                "'users' option, not both"
            )
        if users is None and options.get("users") is not None:
            users = [_as_user(u, where) for u in options["users"]]
        server_options = {
            k: v for k, v in options.items() if k not in PLUGIN_OPTIONS and k != "users"
        }
        host = options.get("host") or DEFAULT_HOST
        port = options.get("port") or 0

        factory = server_options.get("path_io_factory")
        backend: str
        if factory is None:
            backend = options.get("backend") or DEFAULT_BACKEND
            factory = BACKENDS[backend]
            server_options["path_io_factory"] = factory
        else:
            backend = str(getattr(factory, "__name__", "custom"))
        in_memory = isinstance(factory, type) and issubclass(factory, MemoryPathIO)
        root = None if in_memory else self._root_directory()
        backend_root = pathlib.Path("/") if root is None else root

        test_ca: TestCA | None = None
        tls = options.get("tls")
        implicit = bool(server_options.get("implicit_tls"))
        if tls:
            test_ca = self._test_ca()
            server_options["ssl"] = test_ca.server_ssl_context()
            if tls == "implicit":
                server_options["implicit_tls"] = implicit = True

        if users is None:  # made on the backend root at once: no rebasing copy
            users = [
                User(DEFAULT_LOGIN, secrets.token_urlsafe(12), base_path=backend_root),
                User(ANONYMOUS_LOGIN, None, base_path=backend_root),
            ]
        else:
            users = [self._rebase(user, backend_root) for user in users]
        return self._start(
            server_options, users, host, port, root, backend_root, backend, test_ca, implicit, where
        )

    @staticmethod
    def _rebase(user: User, backend_root: pathlib.Path) -> User:
        """Relative ``base_path`` (the default ``.`` included) is relative to the root."""
        base = pathlib.Path(user.base_path)
        if base.is_absolute():
            return user
        rebased = backend_root.joinpath(*_virtual_parts(base.as_posix()))
        return dataclasses.replace(user, base_path=rebased)

    def _start(
        self,
        server_options: dict[str, Any],
        users: list[User],
        host: str,
        port: int,
        root: pathlib.Path | None,
        backend_root: pathlib.Path,
        backend: str,
        test_ca: TestCA | None,
        implicit: bool,
        where: str,
    ) -> FTPServerHandle:
        loop_thread = self._state.loop_thread
        homes = [
            pathlib.Path(u.base_path).joinpath(*_virtual_parts(str(u.home_path))) for u in users
        ]
        if root is not None:
            for home in set(homes):
                if root in home.parents:  # the root itself exists already
                    home.mkdir(parents=True, exist_ok=True)

        def make() -> Server:
            try:
                return Server(users, **server_options)
            except (TypeError, ValueError) as exc:
                raise FTPServerOptionError(f"{where}: {exc}") from exc

        async def make_homes(server: Server) -> None:
            if root is None:
                for home in homes:
                    await server.path_io.mkdir(home, parents=True, exist_ok=True)

        started: concurrent.futures.Future[None] | None = None
        if _quick_start(host, server_options):
            # Bind here and let the loop take the socket over when it gets to it: the test
            # can connect at once (the kernel queues the connection), and the fixture saves
            # a round trip to the server thread. Only for the built-in backends, whose
            # start cannot fail once the socket listens.
            server = make()
            server.listen(host, port)

            async def serve() -> None:
                try:
                    await make_homes(server)
                    await server.start()
                except BaseException:
                    await server.close()
                    raise

            started = loop_thread.submit(serve())
        else:

            async def start() -> Server:
                server = make()
                await server.start(host=host, port=port)
                try:
                    await make_homes(server)
                except BaseException:
                    await server.close()
                    raise
                return server

            server = loop_thread.run(start())
        self._state.live[id(server)] = server
        handle = FTPServerHandle(
            server=server,
            loop_thread=loop_thread,
            users=users,
            root=root,
            backend_root=backend_root,
            backend=backend,
            test_ca=test_ca,
            implicit_tls=implicit,
            started=started,
        )
        self.handles.append(handle)
        item = self._request.node
        item.stash.setdefault(_HANDLES_KEY, []).append(handle)
        return handle

    def close_all(
        self, only: Sequence[FTPServerHandle] | None = None
    ) -> list[tuple[FTPServerHandle, ServerError]]:
        """Stop every server at once (or those in ``only``); return the errors they recorded."""
        handles = [handle for handle in (self.handles if only is None else only)
                   if not handle.closed]
        if not handles:
            return []
        for handle in handles:
            handle.closed = True
            self._state.live.pop(id(handle.server), None)

        loop_thread = self._state.loop_thread

        def close_idle() -> tuple[list[bool], list[list[ServerError]]]:
            closed = [handle._close_now() for handle in handles]
            return closed, [list(handle.server.errors) for handle in handles]

        async def close(busy: list[FTPServerHandle]) -> list[BaseException | None]:
            outcomes = await asyncio.gather(
                *(handle._close() for handle in busy), return_exceptions=True
            )
            return [o if isinstance(o, BaseException) else None for o in outcomes]

        # Usually every client has gone: one plain callback closes all. Servers with
        # sessions left (or a start still running) take the full close.
        closed, recorded = loop_thread.call(close_idle)
        busy = [handle for handle, done in zip(handles, closed, strict=True) if not done]
        if busy:
            for failure in loop_thread.run(close(busy)):
                if failure is not None:
                    raise failure
            recorded = loop_thread.call(
                lambda: [list(handle.server.errors) for handle in handles]
            )
        return [
            (handle, error)
            for handle, errors in zip(handles, recorded, strict=True)
            for error in errors
        ]


def _quick_start(host: str, server_options: Mapping[str, Any]) -> bool:
    """Whether a server may listen at once and start serving later (see ``_start``)."""
    if server_options.get("path_io_factory") not in (PathIO, MemoryPathIO, AsyncPathIO):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _errors_message(errors: Sequence[tuple[FTPServerHandle, ServerError]]) -> str:
    parts = [f"{len(errors)} unexpected error(s) inside the FTP server:"]
    for handle, error in errors:
        formatted = error.traceback
        if not formatted:
            exception = error.exception
            formatted = "".join(
                traceback.format_exception(type(exception), exception, exception.__traceback__)
            )
        where = f"{handle.url}, session {error.session_id}"
        command = " ".join(str(x) for x in (error.verb, error.argument) if x)
        if command:
            where += f", while handling {command}"
        parts.append(f"--- {where} ---\n{formatted.rstrip()}")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ftp_server", "FTP server fixture (pytest-ftpserver)")
    group.addoption(
        "--ftp-server-host",
        dest="ftp_server_host",
        default=None,
        metavar="HOST",
        help="address the ftp_server fixture binds, e.g. ::1 (default 127.0.0.1)",
    )
    group.addoption(
        "--ftp-server-backend",
        dest="ftp_server_backend",
        default=None,
        choices=list(BACKENDS),
        help="default storage of ftp_server: tmp_path (default), memory or async",
    )
    for name in TIMEOUT_OPTIONS:
        group.addoption(
            f"--ftp-server-{name.replace('_', '-')}",
            dest=f"ftp_server_{name}",
            default=None,
            type=float,
            metavar="SECONDS",
            help=f"default {name} of ftp_server (Server keyword)",
        )
    parser.addini("ftp_server_host", "address the ftp_server fixture binds (default 127.0.0.1)")
    parser.addini(
        "ftp_server_backend", "default storage of ftp_server: tmp_path (default), memory, async"
    )
    for name in TIMEOUT_OPTIONS:
        parser.addini(f"ftp_server_{name}", f"default {name} of ftp_server, in seconds")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ftp_server(**options): options of the ftp_server fixture (any Server keyword, "
        "backend='tmp_path'|'memory'|'async', tls=True|'implicit', host=)",
    )
    config.addinivalue_line(
        "markers",
        "ftp_user(login=None, password=None, **user_options): a user of the ftp_server "
        "fixture; stackable, replaces the default users",
    )
    state = _PluginState(config)
    config.stash[_STATE_KEY] = state
    config.pluginmanager.register(state, "ftp_server_state")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE_KEY, None)
    if state is not None:
        state.shutdown()
        if config.pluginmanager.is_registered(state):
            config.pluginmanager.unregister(state)
        del config.stash[_STATE_KEY]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    handles = item.stash.get(_HANDLES_KEY, None)
    if not handles or item.stash.get(_DIALOGUE_SHOWN_KEY, False):
        return
    # Once per test: a failing call followed by a teardown error shows the dialogue once.
    item.stash[_DIALOGUE_SHOWN_KEY] = True
    for handle in handles:
        try:
            text = handle.dialogue()
        except Exception as exc:  # the report must never hide the real failure
            text = f"(dialogue unavailable: {exc!r})"
        report.sections.append((f"ftp_server dialogue {handle.url}", text))


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ftp_server_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """The session's test certificate authority (made on first use, needs trustme)."""
    return TestCA(tmp_path_factory.mktemp("ftp-server-ca"))


def _test_factory(request: pytest.FixtureRequest) -> tuple[FTPServerFactory, bool]:
    """The test's one factory, shared by ``ftp_server`` and ``ftp_server_factory``; and
    whether this call made it.

    ``ftp_server`` used to get it through ``getfixturevalue("ftp_server_factory")``; a
    fixture set up that way costs pytest about a tenth of a millisecond per test.
    """
    item = request.node
    factory = item.stash.get(_FACTORY_KEY, None)
    if factory is not None:
        return factory, False
    factory = item.stash[_FACTORY_KEY] = FTPServerFactory(request)
    return factory, True


def _stop(
    request: pytest.FixtureRequest, factory: FTPServerFactory, made: bool,
    only: Sequence[FTPServerHandle] | None = None,
) -> None:
    errors = factory.close_all(only)
    if not made:  # the maker, torn down later, reports all at once
        factory.deferred_errors.extend(errors)
        return
    del request.node.stash[_FACTORY_KEY]  # a rerun of the item gets a new factory
    errors = [*factory.deferred_errors, *errors]
    if errors:
        pytest.fail(_errors_message(errors), pytrace=False)


@pytest.fixture
def ftp_server_factory(request: pytest.FixtureRequest) -> Iterator[FTPServerFactory]:
    """Start more servers in one test: ``ftp_server_factory(backend="memory", users=[...])``.

    Takes the options of ``@pytest.mark.ftp_server`` as keyword arguments (markers do not
    apply to it); every server it made is stopped at the end of the test.
    """
    factory, made = _test_factory(request)
    yield factory
    if made:
        _stop(request, factory, made)
    else:
        # Made by ftp_server, set up earlier: its server outlives this fixture, for
        # fixtures set up in between that may still use it.
        mine = [h for h in factory.handles if h is not factory.fixture_handle]
        _stop(request, factory, made, mine)


@pytest.fixture
def ftp_server(request: pytest.FixtureRequest) -> Iterator[FTPServerHandle]:
    """A fresh FTP server for this test, already listening; stopped after it.

    Shaped by ``@pytest.mark.ftp_server(**options)`` and ``@pytest.mark.ftp_user(...)``
    on the test, its class or its module (the closest wins).
    """
    where = "@pytest.mark.ftp_server"
    try:
        options, users = marker_options(request.node)
        merged = {**_state(request.config).defaults, **options}
        if merged.get("backend") != "memory" and merged.get("path_io_factory") is None:
            # Set tmp_path up first so that it is torn down after the server is stopped
            # (tmp_path may delete the directory at teardown).
            request.getfixturevalue("tmp_path")
        factory, made = _test_factory(request)
        try:
            handle = factory.create(options, users, where)
        except BaseException:
            if made:  # no teardown follows a failed setup: a rerun must not find it
                del request.node.stash[_FACTORY_KEY]
            raise
        factory.fixture_handle = handle
    except FTPServerOptionError as exc:
        message = str(exc)
    else:
        yield handle
        # The factory's maker stops all it made (ftp_server_factory's servers too, when
        # that fixture came later and shares it); otherwise stop this server alone, and
        # leave the rest to ftp_server_factory's own teardown.
        _stop(request, factory, made, None if made else [handle])
        return
    # Outside the except block: the report shows the message alone, no exception chain.
    pytest.fail(message, pytrace=False)
