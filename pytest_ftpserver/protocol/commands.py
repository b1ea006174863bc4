"""Command lines: parsing and the declarative command table.

Pure code: bytes in, ``Command`` out. Sockets and asyncio live in ``server``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

# Longest command line we accept, terminator excluded. RFC 959 sets no limit; vsftpd uses
# 4 KiB, pyftpdlib 2 KiB. Paths in deep trees with UTF-8 names can be long, so we allow
# 8 KiB and refuse longer lines with 500 without ever buffering more than this.
MAX_LINE_LENGTH = 8192

# Telnet command bytes (RFC 854) that clients put before ABOR ("IAC IP IAC DM").
IAC = 0xFF
_TELNET_OPTION_VERBS = frozenset({0xFB, 0xFC, 0xFD, 0xFE})  # WILL WONT DO DONT + option


class CommandError(ValueError):
    """A command line that cannot be parsed; ``code`` is the reply code to send."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Command(NamedTuple):
    """One command line: its ``verb`` and everything after the first space.

    A named tuple: immutable, and several times cheaper to make than a frozen dataclass,
    whose ``__init__`` goes through ``object.__setattr__`` (one per command received).
    """

    verb: str  # upper case, aliases not yet mapped
    argument: str  # everything after the first space, "" when absent

    @property
    def masked_argument(self) -> str:
        """The argument as it may be logged (passwords hidden)."""
        return "****" if self.verb == "PASS" and self.argument else self.argument


def strip_telnet(raw: bytes) -> bytes:
    """Drop Telnet command sequences; an escaped ``IAC IAC`` stays one 0xFF byte."""
    if IAC not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b != IAC:
            out.append(b)
            i += 1
            continue
        nxt = raw[i + 1] if i + 1 < n else None
        if nxt == IAC:
            out.append(IAC)
            i += 2
        elif nxt in _TELNET_OPTION_VERBS:
            i += 3
        else:
            i += 2
    # A Telnet "Data Mark" (0xF2) sent as urgent data can arrive without its IAC.
    return bytes(out).lstrip(b"\xf2")


def parse_command_line(raw: bytes) -> Command:
    """Parse one line (terminator already removed) into a ``Command``.

    Raises ``CommandError`` for lines that are not commands.
    """
    raw = raw.rstrip(b"\r")
    if len(raw) > MAX_LINE_LENGTH:
        raise CommandError(500, "Command line too long.")
    raw = strip_telnet(raw).rstrip(b"\r")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(501, "Command line is not valid UTF-8.") from None
    text = text.lstrip(" ")
    if not text:
        raise CommandError(500, "Empty command line.")
    verb, sep, argument = text.partition(" ")
    if not verb.isascii() or not verb.isalpha() or len(verb) > 8:
        raise CommandError(500, "Syntax error, command unrecognized.")
    if "\r" in argument or "\n" in argument:
        raise CommandError(501, "Control characters are not allowed in arguments.")
    return Command(verb.upper(), argument if sep else "")


class Arg(Enum):
    """Whether a verb takes an argument: never, optionally or always."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What the dispatcher must know of a verb before running its handler."""

    verb: str
    help: str
    arg: Arg = Arg.NONE
    needs_login: bool = True
    alias_of: str | None = None  # X-commands of RFC 775
    during_transfer: bool = False  # answered while a transfer runs
    implemented: bool = True


def _spec(verb: str, arg: Arg, help: str, **kw: object) -> CommandSpec:
    return CommandSpec(verb=verb, arg=arg, help=help, **kw)  # type: ignore[arg-type]


_N, _O, _R = Arg.NONE, Arg.OPTIONAL, Arg.REQUIRED

COMMANDS: dict[str, CommandSpec] = {
    s.verb: s
    for s in (
        _spec("ABOR", _N, "Syntax: ABOR (abort transfer).", during_transfer=True),
        _spec("ALLO", _R, "Syntax: ALLO <SP> bytes (obsolete; allocate storage)."),
        _spec("APPE", _R, "Syntax: APPE <SP> file-name (append data to file)."),
        _spec(
            "AUTH",
            _R,
            "Syntax: AUTH <SP> TLS (set up a secure control channel).",
            needs_login=False,
        ),
        _spec("CCC", _N, "Syntax: CCC (clear the control channel).", needs_login=False),
        _spec("CDUP", _N, "Syntax: CDUP (go to parent directory)."),
        _spec("CWD", _O, "Syntax: CWD [<SP> dir-name] (change working directory)."),
        _spec("DELE", _R, "Syntax: DELE <SP> file-name (delete file)."),
        _spec("EPRT", _R, "Syntax: EPRT <SP> |proto|ip|port| (extended active mode)."),
        _spec("EPSV", _O, 'Syntax: EPSV [<SP> proto/"ALL"] (extended passive mode).'),
        _spec("FEAT", _N, "Syntax: FEAT (list all new features supported).", needs_login=False),
        _spec("HELP", _O, "Syntax: HELP [<SP> cmd] (show help).", needs_login=False),
        _spec("LIST", _O, "Syntax: LIST [<SP> path] (list files)."),
        _spec("MDTM", _R, "Syntax: MDTM <SP> path (file last modification time)."),
        _spec("MFMT", _R, "Syntax: MFMT <SP> timeval <SP> path (set file modification time)."),
        _spec("MKD", _R, "Syntax: MKD <SP> path (create directory)."),
        _spec("MLSD", _O, "Syntax: MLSD [<SP> path] (list directory, machine format)."),
        _spec("MLST", _O, "Syntax: MLST [<SP> path] (show path facts, machine format)."),
        _spec("MODE", _R, "Syntax: MODE <SP> mode (set transfer mode; only S)."),
        _spec("NLST", _O, "Syntax: NLST [<SP> path] (list path names)."),
        _spec("NOOP", _N, "Syntax: NOOP (just do nothing).", needs_login=False),
        _spec(
            "OPTS",
            _R,
            "Syntax: OPTS <SP> cmd [<SP> option] (set command options).",
            needs_login=False,
        ),
        _spec("PASS", _O, "Syntax: PASS [<SP> password] (set user password).", needs_login=False),
        _spec("PASV", _N, "Syntax: PASV (open passive data connection)."),
        _spec("PBSZ", _R, "Syntax: PBSZ <SP> 0 (protection buffer size).", needs_login=False),
        _spec("PORT", _R, "Syntax: PORT <SP> h1,h2,h3,h4,p1,p2 (open active data connection)."),
        _spec(
            "PROT", _R, "Syntax: PROT <SP> C|P (data channel protection level).", needs_login=False
        ),
        _spec("PWD", _N, "Syntax: PWD (get current working directory)."),
        _spec(
            "QUIT",
            _N,
            "Syntax: QUIT (quit current session).",
            needs_login=False,
            during_transfer=True,
        ),
        _spec("REIN", _N, "Syntax: REIN (flush account and log out).", needs_login=False),
        _spec("REST", _R, "Syntax: REST <SP> offset (set file offset)."),
        _spec("RETR", _R, "Syntax: RETR <SP> file-name (retrieve a file)."),
        _spec("RMD", _R, "Syntax: RMD <SP> dir-name (remove directory)."),
        _spec("RNFR", _R, "Syntax: RNFR <SP> file-name (rename, source)."),
        _spec("RNTO", _R, "Syntax: RNTO <SP> file-name (rename, destination)."),
        _spec("SITE", _R, "Syntax: SITE <SP> HELP (site-specific commands)."),
        _spec("SIZE", _R, "Syntax: SIZE <SP> file-name (get file size)."),
        _spec(
            "STAT",
            _O,
            "Syntax: STAT [<SP> path] (server status or path listing).",
            during_transfer=True,
        ),
        _spec("STOR", _R, "Syntax: STOR <SP> file-name (store a file)."),
        _spec("STOU", _O, "Syntax: STOU [<SP> name] (store a file with a unique name)."),
        _spec("STRU", _R, "Syntax: STRU <SP> type (set file structure; only F)."),
        _spec("SYST", _N, "Syntax: SYST (get operating system type).", needs_login=False),
        _spec("TYPE", _R, "Syntax: TYPE <SP> A|I|L 8 (set transfer type)."),
        _spec("USER", _R, "Syntax: USER <SP> user-name (set username).", needs_login=False),
        _spec("XCUP", _N, "Syntax: XCUP (obsolete; go to parent directory).", alias_of="CDUP"),
        _spec(
            "XCWD", _O, "Syntax: XCWD [<SP> dir-name] (obsolete; change directory).", alias_of="CWD"
        ),
        _spec("XMKD", _R, "Syntax: XMKD <SP> path (obsolete; create directory).", alias_of="MKD"),
        _spec("XPWD", _N, "Syntax: XPWD (obsolete; get current directory).", alias_of="PWD"),
        _spec(
            "XRMD", _R, "Syntax: XRMD <SP> dir-name (obsolete; remove directory).", alias_of="RMD"
        ),
        # Known verbs we refuse on purpose: 502 rather than 500.
        _spec("ACCT", _R, "Syntax: ACCT <SP> account (not needed here).", implemented=False),
        _spec("SMNT", _R, "Syntax: SMNT <SP> path (not supported).", implemented=False),
    )
}

# Lines of the FEAT reply (RFC 2389), besides the TLS ones added when TLS is configured.
FEATURES = ("EPRT", "EPSV", "MDTM", "MFMT", "REST STREAM", "SIZE", "TVFS", "UTF8")
TLS_FEATURES = ("AUTH TLS", "AUTH SSL", "PBSZ", "PROT")

# RFC 3659 facts we can produce, in the order we print them.
MLST_FACTS = ("type", "size", "modify", "perm", "unique")


def help_lines() -> list[str]:
    """The verbs in the 214 HELP reply, eight to a line."""
    verbs = sorted(v for v, s in COMMANDS.items() if s.implemented)
    return [" ".join(f"{v:<5}" for v in verbs[i : i + 8]).rstrip() for i in range(0, len(verbs), 8)]
