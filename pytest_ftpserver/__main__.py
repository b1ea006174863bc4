"""Standalone server: ``python -m pytest_ftpserver``. Serves until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import ftplib
import io
import pathlib
import secrets
import signal
import socket
import ssl
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from . import MemoryPathIO, PathIO, Server, User


def _user(text: str) -> tuple[str, str]:
    login, sep, password = text.partition(":")
    if not sep or not login:
        raise argparse.ArgumentTypeError(f"expected LOGIN:PASSWORD, got {text!r}")
    return login, password


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: any free port), got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_ftpserver",
        description="Run a pytest-ftpserver FTP server until SIGINT or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--root", type=pathlib.Path, help="serve this directory")
    where.add_argument("--memory", action="store_true", help="serve an in-memory tree (default)")
    parser.add_argument(
        "--user",
        action="append",
        type=_user,
        default=[],
        metavar="LOGIN:PASSWORD",
        help="a read-write account (repeatable)",
    )
    parser.add_argument("--anonymous", action="store_true", help="also allow anonymous logins")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--tls", action="store_true", help="offer explicit FTPS (AUTH TLS)")
    tls.add_argument("--implicit-tls", action="store_true", help="speak TLS from the first byte")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the server, run one ftplib session against it, print it and exit",
    )
    return parser


def _tls_context(
    args: argparse.Namespace, directory: str
) -> tuple[ssl.SSLContext | None, str | None]:
    if not (args.tls or args.implicit_tls):
        return None, None
    from .testca import TestCA

    try:
        ca = TestCA(directory)
    except RuntimeError as exc:  # trustme is missing
        raise SystemExit(f"error: {exc}") from None
    return ca.server_ssl_context(), str(ca.ca_cert_path)


async def serve(args: argparse.Namespace) -> int:
    # Signal handlers first: a SIGINT sent as soon as the address is printed must stop the
    # server cleanly, not raise KeyboardInterrupt.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The test CA lives only as long as this server.
    with tempfile.TemporaryDirectory(prefix="pytest-ftpserver-ca-") as ca_directory:
        return await _serve(args, stop, ca_directory)


async def _serve(args: argparse.Namespace, stop: asyncio.Event, ca_directory: str) -> int:
    factory: type[PathIO] | type[MemoryPathIO]
    if args.root is not None:
        if not args.root.is_dir():
            print(f"error: --root {args.root} is not a directory", file=sys.stderr)
            return 2
        base, factory = args.root.resolve(), PathIO
    else:
        base, factory = pathlib.Path("/"), MemoryPathIO
    users = [User(login, password, base_path=base) for login, password in args.user]
    generated = None
    if not users and not args.anonymous:
        generated = ("user", secrets.token_urlsafe(9))
        users.append(User(*generated, base_path=base))
    if args.anonymous:
        users.append(User(None, None, base_path=base))
    ssl_context, ca_path = _tls_context(args, ca_directory)
    server = Server(
        users,
        path_io_factory=factory,
        ssl=ssl_context,
        implicit_tls=args.implicit_tls,
    )
    try:
        await server.start(args.host, args.port)
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    host, port = server.address[:2]
    shown = f"[{host}]" if ":" in host else host
    tree = str(base) if args.root is not None else "in-memory tree"
    # Always an ftp://HOST:PORT on this line: scripts parse it (api.md section 5).
    tls_note = f" (implicit TLS: connect as ftps://{shown}:{port})" if args.implicit_tls else ""
    print(f"serving {tree} on ftp://{shown}:{port}{tls_note}", flush=True)
    for login, password in args.user:
        print(f"user {login} password {password}", flush=True)
    if generated is not None:
        print(f"user {generated[0]} password {generated[1]}", flush=True)
    if args.anonymous:
        print("anonymous logins allowed", flush=True)
    if ca_path is not None:
        print(f"test CA certificate: {ca_path}", flush=True)
    if args.demo:
        await asyncio.to_thread(_demo_session, server, users[0], ca_path)
        await server.close()
        return 0
    await stop.wait()
    await server.close()
    return 0


class _ImplicitFTPTLS(ftplib.FTP_TLS):
    """ftplib speaks implicit FTPS once the socket is wrapped before the greeting."""

    def connect(
        self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None
    ) -> str:
        self.host, self.port = host, port
        if timeout != -999:
            self.timeout = timeout
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


def _demo_session(server: Server, user: User, ca_path: str | None) -> None:
    """What a test does: log in, upload, list, download, check, quit."""
    ftp: ftplib.FTP
    if server.ssl_context is None:
        ftp = ftplib.FTP()
    else:
        context = ssl.create_default_context(cafile=ca_path)
        ftp = (_ImplicitFTPTLS if server.implicit_tls else ftplib.FTP_TLS)(context=context)
    ftp.connect(*server.address[:2], timeout=10)
    print("<", ftp.getwelcome())
    print("<", ftp.login(user.login or "anonymous", user.password or ""))
    if isinstance(ftp, ftplib.FTP_TLS):
        print("<", ftp.prot_p())
    try:
        print("<", ftp.mkd("demo"))
    except ftplib.error_perm as exc:  # a --root that a previous demo left it in
        print("<", exc)
        if not str(exc).startswith("550"):
            raise
    payload = b"hello from pytest-ftpserver\n" * 1000
    print("<", ftp.storbinary("STOR demo/hello.txt", io.BytesIO(payload)))
    print("< LIST demo:")
    ftp.retrlines("LIST demo", lambda line: print("   ", line))
    received = io.BytesIO()
    print("<", ftp.retrbinary("RETR demo/hello.txt", received.write))
    ok = received.getvalue() == payload
    print(f"downloaded {len(received.getvalue())} bytes, identical to the upload: {ok}")
    print("<", ftp.quit())
    print("server stats:", server.stats)
    if not ok:
        raise SystemExit("demo failed: downloaded content differs")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
