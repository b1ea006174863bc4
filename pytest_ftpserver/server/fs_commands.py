"""Verbs on the file tree: directories, renames, sizes, times, facts and listings."""

from __future__ import annotations

import pathlib
import time

from ..protocol import (
    FileStat,
    format_facts,
    format_list_line,
    format_mdtm,
    parse_time_val,
    quote_path,
)
from .session_base import FTPReply, ReplyT, SessionBase


class FileCommands(SessionBase):
    """Verbs that read or change the file tree; they need no data connection."""

    # -- directories --------------------------------------------------------------------
    async def ftp_CWD(self, argument: str) -> ReplyT:
        assert self.user is not None
        virtual, real = await self._resolve(argument or str(self.user.home_path))
        if not await self._io(self.path_io.is_dir(real)):
            return 550, "No such directory."
        self.cwd = virtual
        return 250, f"Directory changed to {virtual}."

    async def ftp_CDUP(self, argument: str) -> ReplyT:
        return await self.ftp_CWD("..")

    async def ftp_MKD(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument, write=True)
        await self._io(self.path_io.mkdir(real))
        return 257, f"{quote_path(virtual)} created."

    async def ftp_RMD(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument, write=True)
        if virtual == pathlib.PurePosixPath("/"):
            return 550, "Cannot remove the root directory."
        if not await self._io(self.path_io.is_dir(real)):
            return 550, "Not a directory."
        await self._io(self.path_io.rmdir(real))
        return 250, "Directory removed."

    async def ftp_DELE(self, argument: str) -> ReplyT:
        _virtual, real = await self._resolve(argument, write=True)
        await self._io(self.path_io.unlink(real))
        return 250, "File removed."

    async def ftp_RNFR(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument, write=True)
        if not await self._io(self.path_io.exists(real)):
            return 550, "No such file or directory."
        self._rename_from = (virtual, real)
        return 350, "Ready for destination name."

    async def ftp_RNTO(self, argument: str) -> ReplyT:
        source = self._rename_from
        self._rename_from = None
        if source is None:
            return 503, "Bad sequence of commands: send RNFR first."
        _virtual, real = await self._resolve(argument, write=True)
        await self._io(self.path_io.rename(source[1], real))
        return 250, "Rename successful."

    async def _file_stat(self, argument: str) -> FileStat:
        """The stat of a regular file the client may read; 550 for a directory."""
        _, real = await self._resolve(argument)
        st = await self._stat(real)
        if st.is_dir:
            raise FTPReply(550, "Not a regular file.")
        return st

    async def ftp_SIZE(self, argument: str) -> ReplyT:
        # The stored size in either TYPE, as vsftpd and curl expect; counting the CRLF
        # size of a TYPE A transfer would mean reading the whole file.
        return 213, str((await self._file_stat(argument)).size)

    async def ftp_MDTM(self, argument: str) -> ReplyT:
        return 213, format_mdtm((await self._file_stat(argument)).mtime)

    async def ftp_MFMT(self, argument: str) -> ReplyT:
        stamp, _, name = argument.strip().partition(" ")
        if not name:
            return 501, "Syntax: MFMT YYYYMMDDHHMMSS path"
        try:
            mtime = parse_time_val(stamp)
        except ValueError:
            return 501, f"Bad time value {stamp!r}."
        virtual, real = await self._resolve(name, write=True)
        await self._stat(real)
        await self._io(self.path_io.set_mtime(real, mtime))
        return 213, f"Modify={format_mdtm(mtime)}; {virtual}"

    async def ftp_MLST(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument or ".")
        st = await self._stat(real)
        facts = self._facts(virtual, st)
        return 250, f"Listing {virtual}\n {facts} {virtual}\nEnd."

    def _facts(self, virtual: pathlib.PurePosixPath, st: FileStat, type_: str | None = None) -> str:
        assert self.user is not None
        perm = self.user.permission_for(virtual)
        return format_facts(
            st,
            readable=perm.readable,
            writable=perm.writable,
            facts=self._mlst_facts,
            type_=type_,
        )

    async def ftp_STAT(self, argument: str) -> ReplyT:
        if not argument:
            lines = [
                "pytest-ftpserver status:",
                f" Connected to {self.peer_host}",
                f" Logged in as {self._login_name or 'anonymous'}",
                f" TYPE: {'ASCII' if self._ascii else 'BINARY'}, STRUcture: File, MODE: Stream",
                "End of status.",
            ]
            return 211, "\n".join(lines)
        lines = await self._listing(argument, "LIST")
        # On the control channel a CR or LF in a name would end the line, and could end
        # the reply: shown as "?", as ls shows control characters on a terminal.
        return 213, "\n".join([
            "Status of " + argument + ":",
            *(" " + x.replace("\r", "?").replace("\n", "?") for x in lines),
            "End of status.",
        ])

    async def _listing(self, argument: str, verb: str) -> list[str]:
        # Options such as "-la" (gvfs, some GUIs) are accepted and ignored.
        words = argument.split(" ")
        while words and words[0].startswith("-") and len(words[0]) > 1:
            words.pop(0)
        argument = " ".join(words)
        virtual, real = await self._resolve(argument or ".")
        st = await self._stat(real)
        if not st.is_dir:
            if verb == "MLSD":
                raise FTPReply(501, "Not a directory.")
            name = virtual.name
            if verb == "NLST":
                return [argument or name]
            return [format_list_line(name, st)]
        entries = sorted(await self._io(self.path_io.list(real)))
        if verb == "NLST":
            return [name for name, _ in entries]
        if verb == "MLSD":
            return [f"{self._facts(virtual / name, est)} {name}" for name, est in entries]
        now = time.time()
        return [format_list_line(name, est, now) for name, est in entries]
