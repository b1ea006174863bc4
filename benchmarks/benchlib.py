"""Shared plumbing of the benchmark scripts: their own venv, server processes, tables.

Nothing here measures anything; ``run.py`` and ``fixture_cost.py`` do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENV_DIR = HERE / ".env"
REQUIREMENTS = HERE / "requirements.txt"
DOCS_DIR = REPO / "docs" / "benchmarks"
RESULTS_MD = DOCS_DIR / "results.md"

URL_RE = re.compile(r"(?:ftp|tcp)://(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):(\d+)")


# --------------------------------------------------------------------------- environment


def env_python() -> Path:
    return ENV_DIR / "bin" / "python"


def running_in_env() -> bool:
    return Path(sys.prefix).resolve() == ENV_DIR.resolve()


def _env_stamp() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, REPO / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env(script: Path, argv: Sequence[str]) -> None:
    """Re-execute ``script`` inside benchmarks/.env, creating and filling it if needed.

    Returns only when already running inside it.
    """
    if running_in_env():
        return
    python = env_python()
    stamp_file = ENV_DIR / ".installed"
    stamp = _env_stamp()
    if not python.exists():
        print(f"creating {ENV_DIR} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(ENV_DIR)
        stamp_file.unlink(missing_ok=True)
    if not stamp_file.exists() or stamp_file.read_text() != stamp:
        print("installing benchmark requirements into benchmarks/.env ...", flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True, timeout=900)
        subprocess.run([*pip, "-e", str(REPO)], check=True, timeout=900)
        stamp_file.write_text(stamp)
    sys.stdout.flush()
    os.execv(str(python), [str(python), str(script), *argv])


def time_wait_sockets() -> int | None:
    """How many TCP sockets are in TIME_WAIT on this machine (Linux), else None."""
    try:
        with open("/proc/net/sockstat") as stats:
            for line in stats:
                if line.startswith("TCP:"):
                    fields = line.split()
                    return int(fields[fields.index("tw") + 1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def wait_for_time_wait(limit: int = 2000, timeout: float = 75.0) -> str:
    """Wait (bounded) until earlier runs' TIME_WAIT sockets age out; says what it saw.

    Tens of thousands of them, left by earlier runs, made every connection set-up of every
    server measurably slower here; the kernel drops them after 60 s.
    """
    count = time_wait_sockets()
    if count is None or count <= limit:
        return f"{count if count is not None else 'n/a'} sockets in TIME_WAIT at start"
    print(f"{count} sockets in TIME_WAIT: waiting up to {timeout:.0f} s for them to age out",
          file=sys.stderr, flush=True)
    deadline = time.monotonic() + timeout
    while count is not None and count > limit and time.monotonic() < deadline:
        time.sleep(1)
        count = time_wait_sockets()
    return f"{count} sockets in TIME_WAIT at start"


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise RLIMIT_NOFILE's soft limit (children inherit it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# --------------------------------------------------------------------------- processes


class ServerStartError(RuntimeError):
    pass


@dataclass
class ServerProcess:
    """A server in a child process that announces ``ftp://HOST:PORT`` (or tcp://) on stdout.

    Its output goes to a file, never a pipe, so a chatty server cannot block on a full
    pipe while the harness is busy measuring it.
    """

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path | None = None
    start_timeout: float = 30.0
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    host: str = field(default="", init=False)
    port: int = field(default=0, init=False)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ServerProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            match = URL_RE.search(self.log_path.read_text(errors="replace"))
            if match:
                self.host = match.group(1).strip("[]")
                self.port = int(match.group(2))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        output = self.log_tail()
        self.stop()
        raise ServerStartError(f"{self.name} did not announce ftp://HOST:PORT: {output}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)


@contextlib.contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by the live threads of ``pid`` (nanosecond schedstat clock)."""
    total = 0
    with contextlib.suppress(FileNotFoundError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError), \
                    open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
    return total / 1e9


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------- reporting


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


RESULTS_HEADER = """# Benchmarks

Made by the scripts in `benchmarks/`; every section below is rewritten by the script that
names it, the rest of this page is left alone. See `benchmarks/README.md` for how to run them.
"""


def write_section(path: Path, key: str, body: str) -> None:
    """Replace the section ``key`` of a markdown file (kept between HTML comments)."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else RESULTS_HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail.lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def git_revision() -> str:
    """HEAD's short hash, with ``+dirty`` when the server's code differs from it (the
    benchmarks run the working tree)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "pytest_ftpserver"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if changed else "")


def package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2
