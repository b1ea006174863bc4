"""Launch aioftp as a stand-alone benchmark peer.

Same command line as ``python -m pytest_ftpserver`` (the parts the harness uses) and the
same announcement: one line with ``ftp://HOST:PORT`` once the socket listens. aioftp runs
with its defaults (``PathIO`` backend, 8 KiB blocks, no connection cap); only the listen
backlog is raised so that 200 clients connecting at once are not dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sys


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def serve(host: str, port: int, root: str, login: str, password: str) -> None:
    import aioftp

    user = aioftp.User(login, password, base_path=root)
    server = aioftp.Server([user])
    await server.start(host=host, port=port, backlog=1024)
    bound_host, bound_port = server.address
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    print(f"aioftp serving on ftp://{bound_host}:{bound_port}", flush=True)
    try:
        await stopped.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True, help="LOGIN:PASSWORD")
    args = parser.parse_args(argv)
    login, _, password = args.user.partition(":")
    raise_fd_limit()
    asyncio.run(serve(args.host, args.port, args.root, login, password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
