"""Users and permissions: plain data, no I/O."""

from __future__ import annotations

import pathlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from .paths import normalize_virtual_path


@dataclass(frozen=True)
class Permission:
    """Read/write rights on a virtual path and everything below it.

    The permission whose ``path`` is the nearest ancestor of (or equal to) the path being
    accessed wins.
    """

    path: str | pathlib.PurePosixPath = "/"
    readable: bool = True
    writable: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", normalize_virtual_path(str(self.path)))

    @property
    def virtual_path(self) -> pathlib.PurePosixPath:
        """The normalized virtual path this permission applies to."""
        path = self.path
        assert isinstance(path, pathlib.PurePosixPath)  # normalized in __post_init__
        return path


@dataclass
class User:
    """An account of the server.

    ``login=None`` matches any login name; ``password=None`` logs in on ``USER`` alone.
    ``base_path`` is the real (or backend) directory that the user's virtual "/" maps to;
    ``home_path`` is the virtual directory a session starts in.
    Speed limits are in bytes per second: "read" throttles what the server receives from
    this user (STOR), "write" what it sends (RETR).
    """

    login: str | None = None
    password: str | None = None
    base_path: pathlib.Path = field(default_factory=lambda: pathlib.Path("."))
    home_path: str | pathlib.PurePosixPath = "/"
    permissions: Iterable[Permission] | None = None
    maximum_connections: int | None = None
    read_speed_limit: float | None = None
    write_speed_limit: float | None = None
    read_speed_limit_per_connection: float | None = None
    write_speed_limit_per_connection: float | None = None

    def __post_init__(self) -> None:
        self.base_path = pathlib.Path(self.base_path)
        self.home_path = normalize_virtual_path(str(self.home_path))
        perms = list(self.permissions) if self.permissions is not None else [Permission("/")]
        for p in perms:
            if not isinstance(p, Permission):
                raise TypeError(f"User.permissions must hold Permission objects, got {p!r}")
        if not any(str(p.path) == "/" for p in perms):
            # Without a rule for "/", paths outside every listed tree are denied.
            perms.append(Permission("/", readable=False, writable=False))
        # Deepest first, so that the first match is the nearest ancestor.
        perms.sort(key=lambda p: len(p.virtual_path.parts), reverse=True)
        self.permissions = tuple(perms)
        for name in (
            "maximum_connections",
            "read_speed_limit",
            "write_speed_limit",
            "read_speed_limit_per_connection",
            "write_speed_limit_per_connection",
        ):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"User.{name} must be a positive number or None, got {value!r}")

    def permission_for(self, virtual_path: pathlib.PurePosixPath) -> Permission:
        """The nearest-ancestor permission of ``virtual_path``."""
        assert self.permissions is not None
        for perm in self.permissions:  # sorted deepest first
            vp = perm.virtual_path
            if virtual_path == vp or vp in virtual_path.parents:
                return perm
        raise AssertionError("a '/' permission always exists")  # pragma: no cover

    def matches(self, login: str) -> bool:
        """Whether this account accepts the login name ``login`` (``login=None``: any)."""
        return self.login is None or self.login == login
