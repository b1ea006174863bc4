"""FTPS throughput next to clear text, for our server run through its command line.

    python benchmarks/tls_throughput.py [--size-mib 64] [--rounds 3]

Starts ``python -m pytest_ftpserver --root DIR --tls`` (explicit FTPS with a generated test
CA) as a separate process and moves one file with ftplib: RETR and STOR in clear text
(PROT C), and protected (PROT P, certificate verified against the printed CA). Prints the
medians in MB/s.
"""

from __future__ import annotations

import argparse
import ftplib
import os
import pathlib
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time


def _start(root: pathlib.Path) -> tuple[subprocess.Popen[str], int, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_ftpserver", "--root", str(root), "--user", "b:b", "--tls"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port, ca = 0, ""
    deadline = time.monotonic() + 20
    while (not port or not ca) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if match := re.search(r"ftp://[^ ]+:(\d+)", line):
            port = int(match.group(1))
        if "CA certificate:" in line:
            ca = line.split("CA certificate:", 1)[1].strip()
    if not port or not ca:
        process.kill()
        raise SystemExit("the server did not start")
    return process, port, ca


def _one(port: int, ca: str, protect: bool, verb: str, source: pathlib.Path) -> float:
    context = ssl.create_default_context(cafile=ca)
    ftp = ftplib.FTP_TLS(context=context)
    ftp.connect("127.0.0.1", port, timeout=60)
    ftp.login("b", "b")
    if protect:
        ftp.prot_p()
    else:
        ftp.prot_c()
    size = source.stat().st_size
    started = time.perf_counter()
    if verb == "RETR":
        received = 0

        def count(block: bytes) -> None:
            nonlocal received
            received += len(block)

        ftp.retrbinary(f"RETR {source.name}", count, blocksize=1 << 20)
        assert received == size
    else:
        with source.open("rb") as file:
            ftp.storbinary("STOR upload.bin", file, blocksize=1 << 20)
    elapsed = time.perf_counter() - started
    ftp.quit()
    return size / elapsed / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tls-bench-") as tmp:
        root = pathlib.Path(tmp)
        source = root / "data.bin"
        with source.open("wb") as file:
            for _ in range(args.size_mib):
                file.write(os.urandom(1 << 20))
        process, port, ca = _start(root)
        try:
            results: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for verb in ("RETR", "STOR"):
                    for protect in (False, True):
                        key = (verb, "TLS (PROT P)" if protect else "clear (PROT C)")
                        results.setdefault(key, []).append(_one(port, ca, protect, verb, source))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(10)
    print(f"| transfer ({args.size_mib} MiB, ftplib, median of {args.rounds}) | MB/s |")
    print("|---|---|")
    for (verb, mode), values in results.items():
        print(f"| {verb} {mode} | {statistics.median(values):,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
