"""Code configured by URL: build it from the handle, never from "localhost" or a fixed port."""

import urllib.parse
import urllib.request


def fetch(url: str) -> bytes:
    """The code under test: downloads whatever URL it is configured with."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_fetch_by_url(ftp_server):
    ftp_server.put("/exports/today.csv", b"id,total\n1,42\n")
    host = ftp_server.url.removeprefix("ftp://")  # 127.0.0.1:PORT ([::1]:PORT on IPv6)
    credentials = f"{ftp_server.login}:{urllib.parse.quote(ftp_server.password, safe='')}"

    data = fetch(f"ftp://{credentials}@{host}/exports/today.csv")

    assert data == b"id,total\n1,42\n"
