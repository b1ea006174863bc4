"""Pure protocol code: parsing, replies, paths, permissions, listings. No I/O here."""

from .commands import (
    COMMANDS,
    FEATURES,
    MAX_LINE_LENGTH,
    MLST_FACTS,
    TLS_FEATURES,
    Arg,
    Command,
    CommandError,
    CommandSpec,
    help_lines,
    parse_command_line,
    strip_telnet,
)
from .listing import FileStat, format_facts, format_list_line, format_mdtm, parse_time_val
from .paths import PathError, normalize_virtual_path, quote_path, real_path, resolve_virtual_path
from .transcode import FromNetworkAscii, ToNetworkAscii
from .users import Permission, User

__all__ = [
    "COMMANDS",
    "FEATURES",
    "MAX_LINE_LENGTH",
    "MLST_FACTS",
    "TLS_FEATURES",
    "Arg",
    "Command",
    "CommandError",
    "CommandSpec",
    "FileStat",
    "FromNetworkAscii",
    "PathError",
    "Permission",
    "ToNetworkAscii",
    "User",
    "format_facts",
    "format_list_line",
    "format_mdtm",
    "help_lines",
    "normalize_virtual_path",
    "parse_command_line",
    "parse_time_val",
    "quote_path",
    "real_path",
    "resolve_virtual_path",
    "strip_telnet",
]
