"""Shared helpers for the core-server tests: a live server on loopback, leak checks.

Every test that talks to the server does it over a real socket with a real client.
Blocking clients (ftplib, curl, lftp) run in the test's thread while the server runs its
own event loop in a background thread (``live_server``), or the test is ``async`` and
pushes its blocking client into ``asyncio.to_thread`` (``serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import gc
import os
import pathlib
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# How long a finished test may take to let go of what it used (a server's sessions are
# closed asynchronously; an executor thread needs a moment to exit).
LEAK_GRACE_SECONDS = 3.0

BACKEND_NAMES = ("pathio", "async", "memory")


# --------------------------------------------------------------------------- leak checks


def _socket_inodes_listening() -> set[str]:
    """Inodes of every TCP socket in LISTEN state in this network namespace."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for line in fh:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == "0A":  # 0A = TCP_LISTEN
                        inodes.add(fields[9])
        except OSError:
            continue
    return inodes


def _open_fds() -> dict[int, str]:
    """This process's open file descriptors and what they point at."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed between listdir and readlink (the listdir fd itself)
            continue
        if target.startswith("/proc/"):
            continue
        fds[fd] = target
    return fds


def _describe_new_fds(before: dict[int, str], after: dict[int, str]) -> list[str]:
    listening = _socket_inodes_listening()
    described = []
    for fd, target in sorted(after.items()):
        if before.get(fd) == target:
            continue
        kind = ""
        if target.startswith("socket:["):
            inode = target[len("socket:[") : -1]
            if inode in listening:
                kind = " (a LISTENING socket)"
        described.append(f"fd {fd} -> {target}{kind}")
    return described


def _leaked_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves behind a thread, an open fd or a listening socket.

    Autouse fixtures are set up first and torn down last, so everything the test and its
    other fixtures own is gone by the time this checks (an event loop of pytest-asyncio,
    a ``live_server`` thread, temporary files).
    """
    if not os.path.isdir("/proc/self/fd"):  # pragma: no cover - Linux-only check
        yield
        return
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    deadline = time.monotonic() + LEAK_GRACE_SECONDS
    while True:
        gc.collect()
        threads = _leaked_threads(threads_before)
        new_fds = _describe_new_fds(fds_before, _open_fds())
        if (not threads and not new_fds) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems = []
    if threads:
        problems.append("threads left running: " + ", ".join(t.name for t in threads))
    if new_fds:
        problems.append("file descriptors left open: " + "; ".join(new_fds))
    if problems:
        pytest.fail(f"{request.node.nodeid} leaked resources: " + " | ".join(problems))


# --------------------------------------------------------------------------- small helpers


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (bound then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def tls_contexts(needed_for: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 from a fresh test CA, and a
    client context that trusts it; skips (reason ``needed_for``) without trustme."""
    server_context, client_context, _ = tls_materials(needed_for)
    return server_context, client_context


def tls_materials(needed_for: str) -> tuple[ssl.SSLContext, ssl.SSLContext, bytes]:
    """``tls_contexts``, and the CA certificate as PEM (for curl and lftp)."""
    trustme: Any = pytest.importorskip(
        "trustme", reason=f"{needed_for} needs trustme (the test extra)"
    )
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)
    return server_context, client_context, bytes(ca.cert_pem.bytes())


def ipv6_loopback_available() -> bool:
    """Whether ::1 can be bound here (IPv6 may be off in containers and CI runners)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def recv_all(sock: socket.socket) -> bytes:
    """Everything a data connection carries, up to the peer's close."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def tls_ftp(live: LiveServer, client_context: ssl.SSLContext, timeout: float = 30) -> Any:
    """An ftplib FTP_TLS client of ``live``: AUTH TLS, logged in, PROT P."""
    ftp = ftplib.FTP_TLS(context=client_context, timeout=timeout)
    try:
        ftp.connect(live.host, live.port)
        ftp.login(live.login, live.password)
        ftp.prot_p()
    except BaseException:
        ftp.close()
        raise
    return ftp


class RawClient:
    """A bare control connection: send exact bytes, read exact replies.

    For the cases ftplib hides (pipelining, Telnet bytes, long lines, abrupt closes).
    """

    def __init__(self, host: str, port: int, *, timeout: float = 5.0, source: str | None = None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            if source is not None:
                self.sock.bind((source, 0))
            self.sock.connect((host, port))
        except BaseException:
            self.sock.close()
            raise
        self.buffer = b""

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line: str) -> str:
        """Send one command line and return its complete reply (multi-line joined)."""
        self.send(line + "\r\n")
        return self.reply()

    def line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; pending {self.buffer!r}")
            self.buffer += chunk
        raw, _, self.buffer = self.buffer.partition(b"\n")
        return raw.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self) -> str:
        """One full reply; a multi-line one ("123-" ... "123 ") comes back joined by \\n."""
        first = self.line()
        lines = [first]
        if len(first) >= 4 and first[3] == "-":
            code = first[:3]
            while True:
                nxt = self.line()
                lines.append(nxt)
                if nxt.startswith(code + " "):
                    break
        return "\n".join(lines)

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the server has closed the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def reset(self) -> None:
        """Close abruptly with a TCP RST instead of a FIN."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_pasv(reply: str) -> tuple[str, int]:
    inside = reply[reply.index("(") + 1 : reply.index(")")]
    parts = [int(p) for p in inside.split(",")]
    return ".".join(str(p) for p in parts[:4]), parts[4] * 256 + parts[5]


def parse_epsv(reply: str) -> int:
    inside = reply[reply.index("(") + 1 : reply.index(")")]
    return int(inside.strip(inside[0]))


# --------------------------------------------------------------------------- backends


def trickled_upload(srv: LiveServer, name: str) -> bytes:
    """STOR ``name`` in small pieces 20 ms apart over a raw data connection; asserts the
    150 and the 226 and returns the bytes sent."""
    pieces = [os.urandom(n) for n in (1, 2, 3, 1000, 1, 65536, 7, 0, 5)]
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        host, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection((host, port), timeout=5) as data:
            data.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.send(f"STOR {name}\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            for piece in pieces:
                data.sendall(piece)
                time.sleep(0.02)
        assert raw.reply().startswith("226")
    return b"".join(pieces)


def backend_factory(name: str) -> Any:
    import pytest_ftpserver as core

    return {"pathio": core.PathIO, "async": core.AsyncPathIO, "memory": core.MemoryPathIO}[name]


def backend_base(name: str, tmp_path: pathlib.Path) -> pathlib.Path:
    """The base path of the default test user for a backend.

    Real-file backends get a fresh directory inside tmp_path; the memory tree is
    addressed by the same kind of path, and nothing is written to disk for it.
    """
    base = tmp_path / "root"
    if name != "memory":
        base.mkdir(exist_ok=True)
    return base


# --------------------------------------------------------------------------- live server


class LiveServer:
    """A core ``Server`` running in its own event loop on a background thread."""

    def __init__(
        self,
        factory: Callable[[], Any],
        host: str,
        base: pathlib.Path,
        login: str | None,
        password: str | None,
    ) -> None:
        self.factory = factory
        self.host = host
        self.base = base
        self.login = login
        self.password = password
        self.server: Any = None
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.leftover_tasks: list[str] = []
        self.close_seconds = 0.0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-ftp-server", daemon=True)
        self.expected_errors = False

    # -- thread side
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # pragma: no cover - reported by start()/stop()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            server = self.factory()
            await server.start(host=self.host, port=0)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self.server = server
        self.port = int(server.address[1])
        self._ready.set()
        await self._stop.wait()
        started = time.monotonic()
        await server.close()
        self.close_seconds = time.monotonic() - started
        me = asyncio.current_task()
        others: list[asyncio.Task[Any]] = []
        for _ in range(100):
            others = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            if not others:
                break
            await asyncio.sleep(0.01)
        self.leftover_tasks = [repr(t) for t in others]
        for task in others:  # do not let asyncio.run() hide them by cancelling quietly
            task.cancel()

    # -- test side
    def start(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("server did not start within 30 s")
        if self._error is not None:
            self._thread.join(10)
            raise self._error
        return self

    def stop(self) -> None:
        if self.loop is None or self._stop is None or not self._thread.is_alive():
            self._thread.join(10)
            return
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the server's loop did not stop within 30 s"

    def check_clean(self) -> None:
        """After stop(): no task survived close(), no unexpected exception inside."""
        assert not self.leftover_tasks, f"tasks still running after close(): {self.leftover_tasks}"
        errors = list(getattr(self.server, "errors", []) or [])
        if not self.expected_errors:
            assert not errors, f"unexpected exceptions inside the server: {errors!r}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def stats(self) -> Any:
        return self.server.stats

    @property
    def path_io(self) -> Any:
        return self.server.path_io

    # storage access through the server's own backend, so it works for every backend
    def real(self, vpath: str, base: pathlib.Path | None = None) -> pathlib.Path:
        root = self.base if base is None else base
        return root.joinpath(*[p for p in vpath.split("/") if p])

    def put(self, vpath: str, data: bytes | str, base: pathlib.Path | None = None) -> None:
        if isinstance(data, str):
            data = data.encode()
        path = self.real(vpath, base)
        payload = data

        async def write() -> None:
            await self.path_io.mkdir(path.parent, parents=True, exist_ok=True)
            writer = await self.path_io.open_write(path)
            try:
                await writer.write(payload)
            finally:
                await writer.close()

        self.call(write())

    def mkdir(self, vpath: str, base: pathlib.Path | None = None) -> None:
        path = self.real(vpath, base)
        self.call(self.path_io.mkdir(path, parents=True, exist_ok=True))

    def read(self, vpath: str, base: pathlib.Path | None = None) -> bytes:
        path = self.real(vpath, base)

        async def read_all() -> bytes:
            reader = await self.path_io.open_read(path)
            chunks = []
            try:
                while True:
                    chunk = await reader.read(1 << 20)
                    if not chunk:
                        break
                    chunks.append(chunk)
            finally:
                await reader.close()
            return b"".join(chunks)

        return self.call(read_all())

    def exists(self, vpath: str, base: pathlib.Path | None = None) -> bool:
        return bool(self.call(self.path_io.exists(self.real(vpath, base))))

    def is_dir(self, vpath: str, base: pathlib.Path | None = None) -> bool:
        return bool(self.call(self.path_io.is_dir(self.real(vpath, base))))

    def names(self, vpath: str = "/", base: pathlib.Path | None = None) -> list[str]:
        entries = self.call(self.path_io.list(self.real(vpath, base)))
        return sorted(name for name, _ in entries)

    def set_mtime(self, vpath: str, ts: float, base: pathlib.Path | None = None) -> None:
        self.call(self.path_io.set_mtime(self.real(vpath, base), ts))

    # clients
    def ftp(
        self,
        login: str | None = "",
        password: str | None = "",
        *,
        timeout: float = 5.0,
        passive: bool = True,
    ) -> ftplib.FTP:
        """An ftplib client, connected and (unless ``login`` is None) logged in."""
        ftp = ftplib.FTP(timeout=timeout)
        ftp.connect(self.host, self.port, timeout=timeout)
        ftp.set_pasv(passive)
        if login is not None:
            user = self.login if login == "" else login
            pwd = self.password if password == "" else password
            try:
                ftp.login(user or "anonymous", pwd or "")
            except BaseException:
                ftp.close()
                raise
        return ftp

    def raw(self, *, timeout: float = 5.0, source: str | None = None) -> RawClient:
        """A bare control connection whose 220 greeting has been read."""
        client = RawClient(self.host, self.port, timeout=timeout, source=source)
        try:
            greeting = client.reply()
        except BaseException:
            client.close()
            raise
        assert greeting.startswith("220"), greeting
        return client

    def raw_logged_in(self, *, timeout: float = 5.0) -> RawClient:
        client = self.raw(timeout=timeout)
        try:
            reply = client.cmd(f"USER {self.login}")
            if reply.startswith("331"):
                reply = client.cmd(f"PASS {self.password}")
            assert reply.startswith("230"), reply
        except BaseException:
            client.close()
            raise
        return client


StartServer = Callable[..., LiveServer]


@pytest.fixture
def live_server(tmp_path: pathlib.Path) -> Iterator[StartServer]:
    """Factory: ``live_server(users=None, backend="pathio", host=..., **Server options)``.

    With ``users=None`` the server has one read-write user ``user``/``pass`` whose base
    path is ``tmp_path / "root"``. Every server started is stopped at teardown, and the
    test fails if a task survived ``close()`` or the server recorded an unexpected error.
    """
    started: list[LiveServer] = []

    def start(
        users: Any = None,
        *,
        backend: str = "pathio",
        host: str = "127.0.0.1",
        login: str | None = "user",
        password: str | None = "pass",
        base: pathlib.Path | None = None,
        **options: Any,
    ) -> LiveServer:
        from pytest_ftpserver import Server, User

        root = backend_base(backend, tmp_path) if base is None else base
        if users is None:
            users = [User(login, password, base_path=root)]
        options.setdefault("path_io_factory", backend_factory(backend))
        live = LiveServer(lambda: Server(users, **options), host, root, login, password)
        started.append(live)
        live.start()
        if backend == "memory" and base is None:
            live.mkdir("/")  # the memory tree needs the user's base directory to exist
        return live

    yield start
    for live in started:
        live.stop()
    for live in started:
        live.check_clean()


@contextlib.asynccontextmanager
async def serve(*args: Any, host: str = "127.0.0.1", **options: Any) -> AsyncIterator[Any]:
    """For ``async def`` tests: a started ``Server`` in the running loop, closed after."""
    from pytest_ftpserver import Server

    server = Server(*args, **options)
    await server.start(host=host, port=0)
    try:
        yield server
    finally:
        await server.close()
    me = asyncio.current_task()
    others: list[asyncio.Task[Any]] = []
    for _ in range(100):
        others = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not others:
            break
        await asyncio.sleep(0.01)
    assert not others, f"tasks still running after close(): {others!r}"
    errors = list(getattr(server, "errors", []) or [])
    assert not errors, f"unexpected exceptions inside the server: {errors!r}"


# Inner pytest sessions (pytester) of the plugin tests: hypothesis's plugin costs about
# 0.5 s per session and is not used there.
INNER_INI = """
[pytest]
addopts = -p no:hypothesispytest
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester with the inner sessions' ini file written."""
    pytester.makeini(INNER_INI)
    return pytester
