"""One control connection: read lines, dispatch commands one at a time, reply in order.

The session is an ``asyncio.Protocol``, not a task: an idle session costs a transport and
this object, nothing more. Quick commands run inline in ``data_received``; commands that
touch storage or a data channel run as one task each, while later lines wait in a queue
(only ABOR, STAT and QUIT are answered while a transfer runs). The verbs are spread over
the layers named in ``session_base.py``; this file has the connection, the dispatcher,
login and the simple verbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import socket
import ssl
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NamedTuple

from ..protocol import (
    COMMANDS,
    FEATURES,
    MAX_LINE_LENGTH,
    MLST_FACTS,
    TLS_FEATURES,
    Arg,
    Command,
    CommandError,
    User,
    help_lines,
    normalize_virtual_path,
    parse_command_line,
    quote_path,
)
from .session_base import _TRANSFER_VERBS, FTPReply, ReplyT, _os_error_reply
from .tls import start_tls
from .transfers import Transfers

if TYPE_CHECKING:
    from .server import _FaultPlan

log = logging.getLogger("pytest_ftpserver")


_EAGER_TASKS = sys.version_info >= (3, 12)

#: Commands that leave a REST offset for the transfer command after them: the transfers
#: it applies to (they use it up), and what clients send in between (ftplib's PASV
#: comes first, curl's SIZE, lftp's TYPE...). Any other command clears it.
_KEEP_REST = frozenset({
    "REST", "RETR", "STOR", "APPE", "PASV", "EPSV", "PORT", "EPRT", "TYPE", "MODE", "STRU",
    "PROT", "PBSZ", "SIZE", "MDTM", "NOOP", "STAT", "FEAT", "OPTS",
})


class Session(Transfers):
    """The protocol object of one control connection."""

    # -- connection ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if transport is self.transport or self._closed:
            return  # made already by Server's acceptor (see _Acceptor._accept)
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.peer_host = peer[0] if peer else ""
        self.local_host = local[0] if local else ""
        if peer:  # IPv6 addresses come as 4-tuples (no AddressFamily enum to build)
            self.family = socket.AF_INET6 if len(peer) == 4 else socket.AF_INET
        # ftplib sends ABOR's last byte as urgent data: keep it in the stream. Sockets
        # accepted from Server.listen()'s socket inherit the option from it.
        sock = None if self.server._oob_inline_inherited else transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        if self.server._closing:
            # Accepted in the loop turn before close(), which could not see it yet.
            if self._admitted:
                self.server._session_closed(self)
            self._closed = True
            transport.abort()
            return
        admitted = self._admitted
        if admitted is None:
            admitted = self.server._session_opened(self)
        if not admitted:
            self._send(421, "Too many connections, try again later.")
            self._closed = True
            transport.close()
            return
        rest = self._greeting_rest
        if rest is None:
            self._send(220, self.server.banner)
        elif rest:
            transport.write(rest)
        if self.server.idle_timeout:
            self._last_activity = self.server._loop_time()
            self._schedule_idle(self.server.idle_timeout)

    def greet_early(self, sock: socket.socket) -> None:
        """Admit the session and send the 220 greeting on its accepted socket, before the
        transport is made (Server's acceptor): the client waits for that line, and setting
        the transport up, about a twentieth of a login, follows it instead of preceding it.
        ``connection_made`` does the rest."""
        server = self.server
        if server._closing:
            return  # connection_made drops it
        self._admitted = server._session_opened(self)
        if not self._admitted:
            return  # connection_made answers 421
        line = server._greeting
        try:
            sent = sock.send(line)
        except OSError:  # reset already; the transport finds out
            sent = len(line)
        self._greeting_rest = line[sent:]

    def connection_lost(self, exc: Exception | None) -> None:
        log.debug("session %d: connection closed (%s)", self.id, exc or "by peer")
        self._shutdown()

    def _shutdown(self) -> None:
        if self._closed and self.transport is None:
            return
        self._closed = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        if self._write_stall is not None:
            self._write_stall.cancel()
            self._write_stall = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._close_passive()
        self._logout()
        self.server._session_closed(self)
        self.transport = None

    def close(self) -> None:
        """Drop the connection at once (used by ``Server.close``)."""
        transport = self.transport
        if transport is not None:
            transport.abort()
        self._shutdown()

    # -- idle timeout -------------------------------------------------------------------
    def _schedule_idle(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._idle_handle = loop.call_later(delay, self._idle_check)

    def _idle_check(self) -> None:
        timeout = self.server.idle_timeout
        assert timeout is not None
        if self._closed:
            return
        now = self.server._loop_time()
        if self._busy or self._transfer is not None:
            # A transfer is activity: never cut a session that is moving data.
            self._last_activity = now
        remaining = self._last_activity + timeout - now
        if remaining > 0:
            self._schedule_idle(remaining)
            return
        self._send(421, "Idle timeout, closing control connection.")
        if self.transport is not None:
            self.transport.close()
        self._shutdown()

    # -- reading lines ------------------------------------------------------------------
    # A buffered protocol with one small receive buffer per server: asyncio's default for a
    # plain Protocol is a fresh 256 KiB recv per read, whose allocation (mmap, munmap) cost
    # more than the rest of a login. The buffer is shared safely: the loop fills it and
    # hands it over in one step, and every server lives on one loop.
    def get_buffer(self, sizehint: int) -> memoryview:
        return self.server._receive_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.server._receive_buffer[:nbytes]))

    def eof_received(self) -> bool:
        return False  # close the transport

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self.server.idle_timeout:
            self._last_activity = self.server._loop_time()
        buffer = self._buffer
        if not buffer and not self._discarding and data.find(b"\n") == len(data) - 1:
            # The usual case: one whole command line, nothing left over.
            try:
                item: Command | CommandError = parse_command_line(data[:-1])
            except CommandError as exc:
                item = exc
            self._on_line(item)
        else:
            self._take_lines(data)
        if len(self._pending) > 64 and self.transport is not None:
            # A client that pipelines without reading replies waits for us.
            self.transport.pause_reading()

    def _take_lines(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while not self._closed:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > MAX_LINE_LENGTH + 1:  # + 1: the CR of a CRLF to come
                    # Never hold an overlong line whole: answer once, drop the rest of it.
                    if not self._discarding:
                        self._on_line(CommandError(500, "Command line too long."))
                    self._discarding = True
                    buffer.clear()
                break
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if self._discarding:
                self._discarding = False
                continue
            try:
                item: Command | CommandError = parse_command_line(line)
            except CommandError as exc:
                item = exc
            self._on_line(item)

    def _on_line(self, item: Command | CommandError) -> None:
        if self._busy:
            if isinstance(item, Command) and self._transfer is not None:
                spec = COMMANDS.get(item.verb)
                if spec is not None and spec.during_transfer:
                    self._during_transfer(item)
                    return
            self._pending.append(item)
            return
        self._dispatch(item)

    def _run_pending(self) -> None:
        # Not re-entrant: a queued command that completes at once (eagerly, see _start)
        # calls this again from inside the loop below, which goes on by itself.
        if self._draining:
            return
        self._draining = True
        try:
            while self._pending and not self._busy and not self._closed:
                self._dispatch(self._pending.popleft())
        finally:
            self._draining = False
        if (
            not self._pending
            and not self._writing_paused
            and self.transport is not None
            and not self._closed
        ):
            self.transport.resume_reading()

    # -- a client that does not read its replies ----------------------------------------
    def pause_writing(self) -> None:
        # Read no more commands until the client reads the replies it has; with a
        # socket_timeout, give up on a client that stops reading for that long.
        self._writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()
        timeout = self.server.socket_timeout
        if timeout is not None and self._write_stall is None:
            self._write_stall = asyncio.get_running_loop().call_later(timeout, self.close)

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._write_stall is not None:
            self._write_stall.cancel()
            self._write_stall = None
        if len(self._pending) <= 64 and self.transport is not None and not self._closed:
            self.transport.resume_reading()

    # -- dispatch -----------------------------------------------------------------------
    def _dispatch(self, item: Command | CommandError) -> None:
        if isinstance(item, CommandError):
            self.server._record(self, Command("", ""), item.code, item.message, 0)
            self._send(item.code, item.message)
            return
        command = item
        server = self.server
        server.stats.commands[command.verb] += 1
        self._cmd_bytes = 0
        spec = COMMANDS.get(command.verb)
        if self._rest and (spec is None or (spec.alias_of or command.verb) not in _KEEP_REST):
            self._rest = 0  # REST applies to the transfer command that follows it
        if spec is None:
            return self._final(command, 500, f"Command {command.verb!r} not understood.")
        if not spec.implemented:
            return self._final(command, 502, f"Command {command.verb} not implemented.")
        verb = spec.alias_of or command.verb
        if spec.needs_login and self.user is None:
            return self._final(command, 530, "Log in with USER and PASS first.")
        if spec.arg is Arg.REQUIRED and not command.argument.strip():
            return self._final(command, 501, f"{command.verb} needs an argument.")
        if spec.arg is Arg.NONE and command.argument.strip():
            return self._final(command, 501, f"{command.verb} takes no argument.")
        if verb != "RNTO":
            self._rename_from = None  # RNFR modifies only the command right after it
        handler = _HANDLERS[verb]
        faults = server._faults
        if faults:
            fault = server._take_faults(verb)
            if fault is not None:
                return self._start(command, lambda: self._faulted(command, handler, fault))
        if handler.is_async:
            self._start(command, lambda: handler.func(self, command.argument))
            return
        try:
            result = handler.func(self, command.argument)
        except FTPReply as reply:
            result = (reply.code, reply.text)
        if isinstance(result, _Later):
            self._start(command, result.make)
        else:
            self._final(command, *result)

    def _start(
        self, command: Command, make: Callable[[], Coroutine[Any, Any, ReplyT | None]]
    ) -> None:
        self._busy = True
        loop = asyncio.get_running_loop()
        if _EAGER_TASKS:
            # Python 3.12+: the handler runs in this callback up to its first real
            # suspension, as the current task; with the built-in backends most commands
            # (CWD, SIZE, LIST...) never suspend, and save a loop turn each.
            task = asyncio.Task(  # type: ignore[call-arg,unused-ignore]
                self._run(command, make), loop=loop, eager_start=True
            )
            if not task.done():
                self._task = task
            return
        # Older Pythons: a plain task. (Running the first step by hand broke handlers that
        # need a current task, asyncio.timeout() in a custom backend for one: found in
        # review.)
        self._task = loop.create_task(self._run(command, make))

    async def _run(
        self, command: Command, make: Callable[[], Coroutine[Any, Any, ReplyT | None]]
    ) -> None:
        # The handler's coroutine is made here, so a task cancelled before it ever ran
        # (a client that vanished with commands queued) leaves no un-awaited coroutine.
        try:
            try:
                result = await make()
            except FTPReply as reply:
                result = (reply.code, reply.text)
            except OSError as exc:
                refusal = _os_error_reply(exc)
                result = (refusal.code, refusal.text)
            except asyncio.CancelledError:
                if not self._aborting:
                    raise
                result = (426, "Connection closed; transfer aborted.")
            except Exception as exc:
                self.server._internal_error(self, command, exc)
                result = (451, "Requested action aborted: local error in processing.")
            if result is not None:
                self._final(command, *result)
            # Recorded here, not when they came: the log follows the order of the replies.
            abort, self._abort_command = self._abort_command, None
            if abort is not None:
                self._aborting = False
                self.server._record(self, abort, 226, "ABOR command successful.", 0)
                self._send(226, "ABOR command successful.")
            quit_command, self._quit_command = self._quit_command, None
            if quit_command is not None:
                self.server._record(self, quit_command, 221, "Goodbye.", 0)
                self._count_out()  # before the 221, as in _final
                self._send(221, "Goodbye.")
                self._close_gracefully()
        finally:
            self._transfer = None
            self._busy = False
            self._task = None
        self._run_pending()

    def _take_queued_interrupts(self) -> None:
        """Once a transfer has started: ABOR, STAT or QUIT that came with (or right after)
        its command, and waited in the queue, act on it now, as if it came during it."""
        while self._pending and self._transfer is not None and not self._aborting:
            item = self._pending[0]
            spec = COMMANDS.get(item.verb) if isinstance(item, Command) else None
            if spec is None or not spec.during_transfer:
                return
            self._pending.popleft()
            assert isinstance(item, Command)
            self._during_transfer(item)

    def _during_transfer(self, command: Command) -> None:
        if self._quit_command is not None:
            return  # nothing after QUIT is read (RFC 959)
        self.server.stats.commands[command.verb] += 1
        transfer = self._transfer
        assert transfer is not None
        if command.verb == "STAT":
            text = f"Transfer status: {transfer.verb} in progress, {transfer.bytes} bytes moved."
            self.server._record(self, command, 213, text, 0)
            self._send(213, text)
            return
        if command.verb == "QUIT":
            # RFC 959: the transfer goes on to its own reply; then 221, and the server
            # closes. An upload whose client closes its data side and quits at once is
            # stored whole.
            self._quit_command = command
            return
        if self._abort_command is not None:
            return  # a second ABOR: the first one is under way
        self._aborting = True
        self._abort_command = command
        task = self._task or asyncio.current_task()
        assert task is not None
        task.cancel()

    async def _faulted(
        self, command: Command, handler: _Handler, fault: _FaultPlan
    ) -> ReplyT | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.fail is not None:
            return fault.fail
        if fault.cut is not None and command.verb not in _TRANSFER_VERBS:
            # A fault on a control verb: vanish without a reply.
            self.server._record(self, command, 0, "(connection cut by fault)", 0)
            self.close()
            return None
        self._cut_after = fault.cut
        try:
            if handler.is_async:
                awaited: ReplyT | None = await handler.func(self, command.argument)
                return awaited
            result: ReplyT | _Later = handler.func(self, command.argument)
            if isinstance(result, _Later):
                return await result.make()
            return result
        finally:
            self._cut_after = None

    # -- access control -----------------------------------------------------------------
    def _tls_refusal(self) -> str | None:
        if self.server.tls_required and not self._tls:
            return "TLS is required: send AUTH TLS first."
        return None

    def ftp_USER(self, argument: str) -> ReplyT:
        refusal = self._tls_refusal()
        if refusal:
            return 530, refusal
        self._logout()
        self._login_name = argument
        self._candidate = self.server._find_user(argument)
        if self._candidate is not None and self._candidate.password is None:
            return self._login(self._candidate)
        return 331, f"Password required for {argument}."

    def ftp_PASS(self, argument: str) -> ReplyT | _Later:
        refusal = self._tls_refusal()
        if refusal:
            return 530, refusal
        if self.user is not None:
            return 503, "Already logged in."
        if not self._login_name:
            return 503, "Login with USER first."
        user = self._candidate
        if user is not None and user.password == argument:
            return self._login(user)  # inline: no task for a successful login
        self._failures += 1
        self.server.stats.failed_logins += 1
        self._login_name = ""
        if self.server.login_failure_delay:
            return _Later(self._failed_login)
        return self._login_refused()

    async def _failed_login(self) -> ReplyT | None:
        await asyncio.sleep(self.server.login_failure_delay)
        return self._login_refused()

    def _login_refused(self) -> ReplyT:
        if self._failures >= self.server.max_login_failures:
            self._reply_first = (530, "Login incorrect.")  # sent by _final, before the 421
            self._close_after_reply = True
            return 421, "Too many failed logins, closing control connection."
        return 530, "Login incorrect."

    def _login(self, user: User) -> ReplyT:
        if not self.server._user_logged_in(user):
            self._login_name = ""
            return 530, "Too many connections for this user."
        self.user = user
        self.server.stats.logins += 1
        home = user.home_path  # normalized by User itself
        self.cwd = home if isinstance(home, pathlib.PurePosixPath) else normalize_virtual_path(home)
        self._throttles = self.server._session_throttles(user)
        return 230, "Login successful."

    def ftp_REIN(self, argument: str) -> ReplyT:
        self._logout()
        self._login_name = ""
        self._rest = 0
        self._rename_from = None
        self._ascii = True
        self._close_passive()
        self._active_address = None
        return 220, "Service ready for new user."

    def ftp_QUIT(self, argument: str) -> ReplyT:
        self._close_after_reply = True
        return 221, "Goodbye."

    # -- simple commands ----------------------------------------------------------------
    def ftp_NOOP(self, argument: str) -> ReplyT:
        return 200, "NOOP command successful."

    def ftp_SYST(self, argument: str) -> ReplyT:
        return 215, "UNIX Type: L8"

    def ftp_FEAT(self, argument: str) -> ReplyT:
        features = list(FEATURES)
        facts = "".join(f + ("*;" if f in self._mlst_facts else ";") for f in MLST_FACTS)
        features.append("MLST " + facts)
        if self.server.ssl_context is not None and not self.server.implicit_tls:
            features.extend(TLS_FEATURES)
        elif self.server.ssl_context is not None:
            features.extend(("PBSZ", "PROT"))
        return 211, "\n".join(["Features:", *(" " + f for f in sorted(features)), "End"])

    def ftp_HELP(self, argument: str) -> ReplyT:
        if argument:
            spec = COMMANDS.get(argument.strip().upper())
            if spec is None:
                return 501, f"Unknown command {argument.strip()!r}."
            return 214, spec.help
        return 214, "\n".join(
            ["The following commands are recognized:", *(" " + h for h in help_lines()), "OK."]
        )

    def ftp_SITE(self, argument: str) -> ReplyT:
        sub = argument.strip().partition(" ")[0]
        if sub.upper() == "HELP":
            return 214, "\n".join(["The following SITE commands are recognized:", " HELP", "OK."])
        return 501, f"Unknown SITE command {sub!r}."

    def ftp_OPTS(self, argument: str) -> ReplyT:
        name, _, value = argument.strip().partition(" ")
        name = name.upper()
        if name == "UTF8":
            if value.strip().upper() in ("ON", ""):
                return 200, "UTF8 mode is always on."
            return 504, "UTF8 mode cannot be turned off."
        if name == "MLST":
            wanted = [f.lower() for f in value.strip().split(";") if f]
            unknown = [f for f in wanted if f not in MLST_FACTS]
            if unknown:
                return 501, f"Unknown fact(s): {', '.join(unknown)}."
            self._mlst_facts = tuple(f for f in MLST_FACTS if f in wanted)
            return 200, "MLST OPTS " + "".join(f + ";" for f in self._mlst_facts)
        return 501, f"Unknown option {name!r}."

    def ftp_TYPE(self, argument: str) -> ReplyT:
        words = argument.upper().split()
        if words in (["A"], ["A", "N"]):
            self._ascii = True
            return 200, "Type set to A."
        if words in (["I"], ["L", "8"]):
            self._ascii = False
            return 200, "Type set to I."
        return 504, f"Type {argument!r} not supported."

    def ftp_MODE(self, argument: str) -> ReplyT:
        if argument.strip().upper() == "S":
            return 200, "Mode set to S."
        return 504, "Only stream mode (S) is supported."

    def ftp_STRU(self, argument: str) -> ReplyT:
        if argument.strip().upper() == "F":
            return 200, "Structure set to F."
        return 504, "Only file structure (F) is supported."

    def ftp_ALLO(self, argument: str) -> ReplyT:
        return 202, "No storage allocation necessary."

    def ftp_REST(self, argument: str) -> ReplyT:
        try:
            offset = int(argument.strip())
        except ValueError:
            return 501, "REST needs a non-negative integer."
        if offset < 0:
            return 501, "REST needs a non-negative integer."
        self._rest = offset
        return 350, f"Restarting at {offset}. Send STORE or RETRIEVE to initiate transfer."

    def ftp_PWD(self, argument: str) -> ReplyT:
        return 257, f"{quote_path(self.cwd)} is the current directory."

    def ftp_ABOR(self, argument: str) -> ReplyT:
        self._close_passive()
        return 225, "No transfer to abort."

    def ftp_CCC(self, argument: str) -> ReplyT:
        return 534, "CCC is not allowed: the control channel stays protected."

    # -- TLS ----------------------------------------------------------------------------
    async def ftp_AUTH(self, argument: str) -> ReplyT | None:
        context = self.server.ssl_context
        if context is None:
            return 502, "TLS is not configured on this server."
        if argument.strip().upper() not in ("TLS", "SSL", "TLS-C", "TLS-P"):
            return 504, f"AUTH {argument} not supported."
        if self._tls:
            return 503, "TLS is already active."
        transport = self.transport
        assert transport is not None
        self.server._record(self, Command("AUTH", argument), 234, "AUTH successful.", 0)
        self._send(234, f"AUTH {argument.strip().upper()} successful.")
        loop = asyncio.get_running_loop()
        try:
            new_transport = await start_tls(loop, transport, self, context)
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            log.debug("session %d: TLS handshake failed: %s", self.id, exc)
            transport.abort()
            self._shutdown()
            return None
        if new_transport is None:
            self._shutdown()
            return None
        self.transport = new_transport
        self._tls = True
        self._logout()
        self._login_name = ""
        return None

    def ftp_PBSZ(self, argument: str) -> ReplyT:
        if not self._tls:
            return 503, "PBSZ is valid only after AUTH TLS."
        self._pbsz = True
        return 200, "PBSZ=0"

    def ftp_PROT(self, argument: str) -> ReplyT:
        if not self._tls:
            return 503, "PROT is valid only after AUTH TLS."
        level = argument.strip().upper()
        if level == "P":
            self._protect_data = True
            return 200, "Protection level set to P."
        if level == "C":
            if self.server.tls_required:
                return 534, "Clear data channels are not allowed here."
            self._protect_data = False
            return 200, "Protection level set to C."
        if level in ("S", "E"):
            return 536, f"Protection level {level} not supported."
        return 504, f"Unknown protection level {argument!r}."


class _Later(NamedTuple):
    """What a quick handler returns when, this time, it must wait (a failed login's delay)."""

    make: Callable[[], Coroutine[Any, Any, ReplyT | None]]


class _Handler:
    __slots__ = ("func", "is_async")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.is_async = asyncio.iscoroutinefunction(func)


_HANDLERS: dict[str, _Handler] = {
    verb: _Handler(getattr(Session, "ftp_" + verb))
    for verb, spec in COMMANDS.items()
    if spec.implemented and spec.alias_of is None
}
