"""Virtual path resolution: pure functions, no file system access.

A virtual path is what the client sees: absolute, POSIX, rooted at the user's "/".
Resolution never produces a path above "/", whatever the input holds.
"""

from __future__ import annotations

import pathlib

ROOT = pathlib.PurePosixPath("/")


class PathError(ValueError):
    """A path argument that can never name a file (NUL byte, for example)."""


def normalize_virtual_path(path: str) -> pathlib.PurePosixPath:
    """Normalize an absolute-or-relative-to-root virtual path, clamping ``..`` at "/"."""
    return resolve_virtual_path(ROOT, path)


def resolve_virtual_path(cwd: pathlib.PurePosixPath, argument: str) -> pathlib.PurePosixPath:
    """Resolve a client's path argument against the current virtual directory.

    Backslashes count as separators (Windows clients send them, and a name with one could
    otherwise mean ``..\\..`` to a backend on Windows); ``..`` never climbs above "/";
    a NUL byte is refused because no file system can store it.
    """
    if argument == "/":  # every user's default home and "/" permission: no new path
        return ROOT
    if "\x00" in argument:
        raise PathError("path contains a NUL byte")
    text = argument.replace("\\", "/")
    parts: list[str] = [] if text.startswith("/") else list(cwd.parts[1:])
    for piece in text.split("/"):
        if piece in ("", "."):
            continue
        if piece == "..":
            if parts:
                parts.pop()
            continue
        parts.append(piece)
    return ROOT.joinpath(*parts)


def real_path(base: pathlib.Path, virtual: pathlib.PurePosixPath) -> pathlib.Path:
    """Map a normalized virtual path onto the user's base path."""
    return base.joinpath(*virtual.parts[1:])


def quote_path(path: pathlib.PurePosixPath | str) -> str:
    """Quote a path for a 257 reply (RFC 959: embedded quotes are doubled)."""
    return '"' + str(path).replace('"', '""') + '"'
