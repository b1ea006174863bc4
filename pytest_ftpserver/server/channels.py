"""Data channel set-up: PASV, EPSV, PORT, EPRT, and opening (and securing) a connection."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import random
import socket
import ssl
import sys
from collections.abc import Iterable

from .data import DataConnection, direct_transports
from .fs_commands import FileCommands
from .ports import candidate_ports, listen_on
from .session_base import FTPReply, ReplyT, _Transfer
from .tls import start_tls

log = logging.getLogger("pytest_ftpserver")

# SO_REUSEADDR lets a listener share a port with connections in TIME_WAIT on POSIX
# systems; on Windows (and Cygwin, which maps to it) it would let it take a port that
# another socket listens on, so it stays off there (pyftpdlib does the same).
_REUSE_PASSIVE_PORTS = os.name == "posix" and sys.platform != "cygwin"


#: Transfers that write a (usually small) payload straight to the accepted socket.
_RAW_VERBS = frozenset({"LIST", "NLST", "MLSD"})


def _retrieve_failure(task: asyncio.Task[DataConnection]) -> None:
    if not task.cancelled():
        task.exception()


class DataChannels(FileCommands):
    """Setting up data connections: passive and active modes, TLS on the data channel."""

    # -- data channel set-up ------------------------------------------------------------
    def _close_passive(self) -> None:
        self._stop_listening()
        future, self._passive_accept = self._passive_accept, None
        if future is None:
            return
        if not future.done():
            future.cancel()
        elif not future.cancelled() and future.exception() is None:
            connection = future.result()
            if connection.handshake is not None:
                connection.handshake.cancel()
            connection.abort()

    def _stop_listening(self) -> None:
        """Close the passive listening socket (at most one connection per PASV)."""
        sock, self._passive_sock = self._passive_sock, None
        if sock is None:
            return
        task, self._passive_task = self._passive_task, None
        if task is not None:
            task.cancel()  # the fallback accept task closes the socket itself
            return
        asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()

    def _data_refusal(self) -> str | None:
        if self.server.tls_required and not self._protect_data:
            return "Data connections must be protected: send PROT P."
        return None

    def _listen_passive(self) -> int:
        """Listen on a passive port (a plain socket: it takes one connection, if any).

        Synchronous, so that PASV and EPSV are answered in the callback that read them,
        without a task; every OSError becomes a 425.
        """
        self._close_passive()
        self._active_address = None
        ports: Iterable[int]
        if self.server.passive_ports is not None:
            shuffled = list(self.server.passive_ports)
            random.shuffle(shuffled)
            ports = shuffled
        else:  # a random free port, cheap even with thousands in TIME_WAIT (ports.py)
            ports = candidate_ports(0)
        family = self.family

        def make_socket() -> socket.socket:
            sock = socket.socket(family, socket.SOCK_STREAM)
            if _REUSE_PASSIVE_PORTS:
                # A port whose last data connection is in TIME_WAIT (the server closed
                # it) can serve the next one: with a small passive_ports range it must.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            return sock

        try:
            sock = listen_on(make_socket, self.local_host, ports, 4)
            sock.setblocking(False)
        except OSError as exc:  # out of descriptors, every port taken...
            raise FTPReply(425, f"Cannot open a passive port: {exc}.") from None
        port_number: int = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DataConnection] = loop.create_future()
        self._passive_accept = future
        self._passive_sock = sock
        if not direct_transports(loop):
            self._passive_task = loop.create_task(self._accept_passive(sock, future))
        elif self.server.ssl_context is not None:
            # Accept at once: aioftp finishes its TLS handshake before it sends RETR.
            loop.add_reader(sock.fileno(), self._passive_ready, sock, future)
        # Otherwise no TLS can come first: the transfer command accepts (_open_data). The
        # kernel queues the client's connection meanwhile, and the loop is spared a
        # wake-up and two epoll_ctl calls per transfer.
        return port_number

    def _passive_ready(self, sock: socket.socket, future: asyncio.Future[DataConnection]) -> None:
        """A connection waits on the passive port: make it a transport in this callback.

        Only the client's own host may connect; others are refused (hijack). One task, two
        futures and a coroutine fewer per transfer than ``sock_accept`` followed by
        ``connect_accepted_socket``.
        """
        while True:
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say
                self._stop_listening()
                if not future.done():
                    future.set_exception(FTPReply(425, f"Cannot open data connection: {exc}."))
                return
            if self._from_client(conn, address):
                break
        self._stop_listening()  # one data connection per PASV
        try:
            conn.setblocking(False)
            # A transport only when the transfer needs one (_open_data), except with TLS:
            # then at once, and the handshake starts with it.
            connection = DataConnection.accepted(conn, address, pause=self._protect_data)
            if self._protect_data:
                connection.attach()
                self._handshake_on_accept(connection)
        except Exception as exc:  # pragma: no cover -- a socket that died meanwhile
            conn.close()
            future.set_exception(exc)
            return
        future.set_result(connection)

    def _from_client(self, conn: socket.socket, address: tuple[str, int]) -> bool:
        """Whether a data connection comes from the client's own host; else it is closed
        (PASV hijacking)."""
        if self.server._same_host(address[0], self.peer_host):
            return True
        log.debug("session %d: refused data connection from %s", self.id, address[0])
        conn.close()
        return False

    def _handshake_on_accept(self, connection: DataConnection) -> None:
        # With PROT P the TLS handshake starts at once too (curl and lftp send their
        # ClientHello before the transfer command); the transfer waits for it after 150.
        if connection.pause_on_connect:
            handshake = asyncio.get_running_loop().create_task(self._wrap_tls(connection))
            # A channel given up before its transfer never awaits the handshake: its
            # failure is read here so that asyncio does not log it as never retrieved.
            handshake.add_done_callback(_retrieve_failure)
            connection.handshake = handshake

    async def _accept_passive(
        self, sock: socket.socket, future: asyncio.Future[DataConnection]
    ) -> None:
        """``_passive_ready`` for event loops without selector transports (uvloop, say)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                conn, address = await loop.sock_accept(sock)
                if self._from_client(conn, address):
                    break
        finally:
            sock.close()
            if self._passive_sock is sock:
                self._passive_sock = self._passive_task = None
        pause = self._protect_data
        made: list[DataConnection] = []

        def protocol() -> DataConnection:
            made.append(DataConnection(pause=pause))
            return made[-1]

        try:
            _, connection = await loop.connect_accepted_socket(protocol, conn)
        except BaseException:  # cancelled (the session ended) while the transport was made
            if made:
                # The transport owns the socket: close it once connection_made has run.
                loop.call_soon(made[0].abort)
            else:
                conn.close()
            raise
        if future.done():  # pragma: no cover -- the session gave the channel up meanwhile
            connection.abort()
            return
        self._handshake_on_accept(connection)
        future.set_result(connection)

    def ftp_PASV(self, argument: str) -> ReplyT:
        if self._epsv_all:
            return 503, "Only EPSV is accepted after EPSV ALL."
        address = self.server.masquerade_address or self.local_host
        if address.startswith("::ffff:"):
            address = address[7:]
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return 425, "PASV works on IPv4 only: use EPSV."
        port = self._listen_passive()
        numbers = ",".join([*str(ip).split("."), str(port >> 8), str(port & 0xFF)])
        return 227, f"Entering Passive Mode ({numbers})."

    def ftp_EPSV(self, argument: str) -> ReplyT:
        arg = argument.strip().upper()
        if arg == "ALL":
            self._epsv_all = True
            return 200, "EPSV ALL accepted."
        if arg:
            expected = "1" if self.family == socket.AF_INET else "2"
            if arg not in ("1", "2"):
                return 501, f"Unknown network protocol {arg!r}."
            if arg != expected:
                return 522, f"Network protocol not supported, use ({expected})."
        port = self._listen_passive()
        return 229, f"Entering Extended Passive Mode (|||{port}|)."

    def _check_active(self, host: str, port: int) -> ReplyT | None:
        if self._epsv_all:
            return 503, "Only EPSV is accepted after EPSV ALL."
        if host in ("0.0.0.0", "::"):
            # The unspecified address (lftp's EPRT on IPv6) names no host: take it as
            # the client's own, the one address active mode may connect to anyway.
            host = self.peer_host
        if not self.server.allow_foreign_addresses and not self.server._same_host(
            host, self.peer_host
        ):
            return 504, "Active connections only to the client's own address."
        if port < 1024 and not self.server.allow_privileged_ports:
            return 504, "Active connections to privileged ports are refused."
        if not 0 < port < 65536:
            return 501, "Port out of range."
        self._close_passive()
        self._active_address = (host, port)
        return None

    def ftp_PORT(self, argument: str) -> ReplyT:
        parts = argument.strip().split(",")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            return 501, "Syntax: PORT h1,h2,h3,h4,p1,p2"
        if len(numbers) != 6 or any(not 0 <= n <= 255 for n in numbers):
            return 501, "Syntax: PORT h1,h2,h3,h4,p1,p2"
        if self.family != socket.AF_INET and not self.peer_host.startswith("::ffff:"):
            return 522, "PORT is for IPv4: use EPRT."
        host = ".".join(str(n) for n in numbers[:4])
        refusal = self._check_active(host, numbers[4] * 256 + numbers[5])
        return refusal or (200, "PORT command successful.")

    def ftp_EPRT(self, argument: str) -> ReplyT:
        text = argument.strip()
        if len(text) < 7:
            return 501, "Syntax: EPRT |proto|address|port|"
        fields = text[1:-1].split(text[0])
        if len(fields) != 3 or text[-1] != text[0]:
            return 501, "Syntax: EPRT |proto|address|port|"
        proto, host, port_text = fields
        if proto not in ("1", "2"):
            return 522, "Network protocol not supported, use (1,2)."
        try:
            ip = ipaddress.ip_address(host)
            port = int(port_text)
        except ValueError:
            return 501, "Bad address or port in EPRT."
        if (proto == "1") != (ip.version == 4):
            return 501, "EPRT protocol and address family disagree."
        refusal = self._check_active(str(ip), port)
        return refusal or (200, "EPRT command successful.")

    async def _open_data(self, verb: str, preliminary: str | None = None) -> DataConnection:
        refusal = self._data_refusal()
        if refusal:
            raise FTPReply(521, refusal)
        loop = asyncio.get_running_loop()
        # From here on ABOR, STAT and QUIT are answered at once.
        self._transfer = _Transfer(verb)
        connection: DataConnection
        accepting = self._passive_accept
        if accepting is not None:
            sock = self._passive_sock
            if sock is not None and not accepting.done() and self._passive_task is None:
                # Clients connect before they send the command: usually it is queued.
                self._passive_ready(sock, accepting)
                if not accepting.done():
                    loop.add_reader(sock.fileno(), self._passive_ready, sock, accepting)
            if accepting.done():
                connection = accepting.result()
            else:
                try:
                    connection = await asyncio.wait_for(
                        asyncio.shield(accepting), self.server.wait_future_timeout
                    )
                except asyncio.TimeoutError:
                    self._close_passive()
                    raise FTPReply(425, "No data connection was made in time.") from None
            self._passive_accept = None
        elif self._active_address is not None:
            host, port = self._active_address
            self._active_address = None
            try:
                _, connection = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: DataConnection(pause=self._protect_data), host, port
                    ),
                    self.server.wait_future_timeout,
                )
            except (OSError, asyncio.TimeoutError) as exc:
                raise FTPReply(425, f"Cannot open data connection: {exc}.") from None
        else:
            raise FTPReply(425, "Use PORT, EPRT, PASV or EPSV first.")
        if connection.raw is not None and (verb not in _RAW_VERBS or self._protect_data):
            # Listings in clear go to the bare socket; everything else, and a channel that
            # PROT P protects since it connected, needs a transport.
            connection.attach()
        self._send(150, preliminary or f"Opening data connection for {verb}.")
        self._take_queued_interrupts()
        try:
            if connection.handshake is not None:
                connection = await connection.handshake
            elif self._protect_data:
                connection = await self._wrap_tls(connection)
            if self._aborting:
                # ABOR or QUIT cancelled this task as the handshake ended; the handshake's
                # wait_for (Python < 3.12) returned its result instead, so the
                # cancellation would be lost and the transfer go on unanswered.
                raise asyncio.CancelledError
        except BaseException:
            connection.abort()
            raise
        return connection

    async def _wrap_tls(self, connection: DataConnection) -> DataConnection:
        context = self.server._data_ssl_context()
        assert context is not None and connection.transport is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                start_tls(loop, connection.transport, connection, context),
                self.server.socket_timeout or 30,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as exc:
            connection.abort()
            raise FTPReply(425, f"TLS negotiation on the data connection failed: {exc}.") from None
        assert transport is not None
        connection.tcp_transport = connection.transport
        connection.transport = transport
        connection.tls = True
        return connection
