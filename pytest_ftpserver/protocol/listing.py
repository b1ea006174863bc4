"""Listing and time formats: LIST lines, MLSx facts, MDTM stamps. Locale independent."""

from __future__ import annotations

import calendar
import stat as stat_module
import time
from collections.abc import Iterable
from dataclasses import dataclass

# English month names whatever the process locale: strftime("%b") would follow LC_TIME.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SIX_MONTHS = 180 * 24 * 3600


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a backend tells about a path: enough for LIST, MLSx, SIZE and MDTM."""

    size: int
    mtime: float  # seconds since the epoch, UTC
    is_dir: bool
    mode: int = 0
    ino: int = 0
    nlink: int = 1


def format_mdtm(mtime: float) -> str:
    """YYYYMMDDHHMMSS in UTC (RFC 3659 time-val)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(mtime))


def parse_time_val(text: str) -> float:
    """Parse RFC 3659 time-val (YYYYMMDDHHMMSS[.sss], UTC) into epoch seconds."""
    main, _, fraction = text.partition(".")
    if len(main) != 14 or not main.isdigit() or (fraction and not fraction.isdigit()):
        raise ValueError(f"bad time-val {text!r}")
    parsed = time.strptime(main, "%Y%m%d%H%M%S")
    return calendar.timegm(parsed) + (float("0." + fraction) if fraction else 0.0)


def _mode_string(st: FileStat) -> str:
    mode = st.mode or (0o40755 if st.is_dir else 0o100644)
    if st.is_dir:
        mode = stat_module.S_IFDIR | (mode & 0o7777)
    return stat_module.filemode(mode)


def format_list_line(name: str, st: FileStat, now: float | None = None) -> str:
    """One ``ls -l`` style line, as clients (and humans) parse LIST output."""
    now = time.time() if now is None else now
    tm = time.gmtime(st.mtime)
    if abs(now - st.mtime) < _SIX_MONTHS:
        when = f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}"
    else:
        when = f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d}  {tm.tm_year}"
    return f"{_mode_string(st)} {st.nlink:3d} owner    group    {st.size:>12d} {when} {name}"


def format_facts(
    st: FileStat, *, readable: bool, writable: bool, facts: Iterable[str], type_: str | None = None
) -> str:
    """The ``fact=value;`` string of RFC 3659 section 7 for one path."""
    out = []
    for fact in facts:
        if fact == "type":
            out.append("type=" + (type_ or ("dir" if st.is_dir else "file")))
        elif fact == "size":
            out.append(f"size={st.size}")
        elif fact == "modify":
            out.append("modify=" + format_mdtm(st.mtime))
        elif fact == "perm":
            perm = ""
            if st.is_dir:
                perm += "el" if readable else ""
                perm += "cdfmp" if writable else ""
            else:
                perm += "r" if readable else ""
                perm += "adfw" if writable else ""
            out.append("perm=" + perm)
        elif fact == "unique" and st.ino:
            out.append(f"unique={st.ino:x}")
    return "".join(f + ";" for f in out)
