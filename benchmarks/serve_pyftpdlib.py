"""Launch pyftpdlib as a stand-alone benchmark peer.

Same command line as ``python -m pytest_ftpserver`` (the parts the harness uses) and the
same announcement: one line with ``ftp://HOST:PORT`` once the socket listens.
Only settings that would make a benchmark refuse work are changed from pyftpdlib's
defaults: the connection cap (512 by default, below the 1,000-session test), the listen
backlog (so 200 clients connecting at once are not dropped) and per-command logging.
"""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
from types import FrameType


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True, help="LOGIN:PASSWORD")
    args = parser.parse_args(argv)
    login, _, password = args.user.partition(":")

    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    raise_fd_limit()
    logging.basicConfig(level=logging.WARNING)

    authorizer = DummyAuthorizer()
    authorizer.add_user(login, password, args.root, perm="elradfmwMT")
    handler = type("BenchHandler", (FTPHandler,), {"authorizer": authorizer})
    server = FTPServer((args.host, args.port), handler, backlog=1024)
    server.max_cons = 0  # unlimited
    host, port = server.socket.getsockname()[:2]

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"pyftpdlib serving on ftp://{host}:{port}", flush=True)
    try:
        server.serve_forever(handle_exit=False)
    except KeyboardInterrupt:
        pass
    finally:
        server.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
