"""The reference for RETR: a bare socket that sends one file with ``os.sendfile()``.

No FTP at all: every accepted connection gets the whole file, then is closed. Prints
``sendfile serving on tcp://HOST:PORT`` once listening. Two ways to call sendfile:

- ``whole``: one blocking ``sendfile()`` for the whole file (the obvious bare loop);
- ``paced``: non-blocking, one ``sendfile()`` of ``--chunk`` bytes per epoll wake-up.
  On loopback, keeping little data in flight lets the receiver copy it while it is
  still in cache; with a 1 MiB-read client this measured about twice ``whole``.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import struct
import sys
from types import FrameType

SEND_TIMEOUT = 60  # seconds a blocked send may wait for the client


def send_whole(conn: socket.socket, fd: int, size: int) -> None:
    conn.setblocking(True)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", SEND_TIMEOUT, 0))
    offset = 0
    while offset < size:
        sent = os.sendfile(conn.fileno(), fd, offset, size - offset)
        if sent == 0:
            return
        offset += sent


def send_paced(conn: socket.socket, fd: int, size: int, chunk: int) -> None:
    conn.setblocking(False)
    offset = 0
    with select.epoll() as poller:
        poller.register(conn.fileno(), select.EPOLLOUT)
        while offset < size:
            if not poller.poll(SEND_TIMEOUT):
                return
            try:
                sent = os.sendfile(conn.fileno(), fd, offset, min(chunk, size - offset))
            except BlockingIOError:
                continue
            if sent == 0:
                return
            offset += sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", required=True)
    parser.add_argument("--mode", choices=("whole", "paced"), default="whole")
    parser.add_argument("--chunk", type=int, default=32768)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    with socket.create_server((args.host, 0)) as listener:
        host, port = listener.getsockname()[:2]
        print(f"sendfile ({args.mode}) serving on tcp://{host}:{port}", flush=True)
        try:
            while True:
                conn, _ = listener.accept()
                with conn, open(args.file, "rb") as source:
                    size = os.fstat(source.fileno()).st_size
                    try:
                        if args.mode == "whole":
                            send_whole(conn, source.fileno(), size)
                        else:
                            send_paced(conn, source.fileno(), size, args.chunk)
                    except OSError:
                        pass  # the client went away; serve the next one
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
