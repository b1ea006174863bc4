"""curl against the fixture: --cacert makes it verify the certificate like a real server's."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


@pytest.mark.ftp_server(tls=True)
def test_curl_explicit(ftp_server):
    ftp_server.put("hello.txt", b"hello")
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--max-time", "20",
            "--ssl-reqd",  # AUTH TLS, and fail rather than go on in clear text
            "--cacert", str(ftp_server.ca_cert_path),
            "--user", f"{ftp_server.login}:{ftp_server.password}",
            f"{ftp_server.url}/hello.txt",  # ftp://127.0.0.1:PORT/hello.txt
        ],
        capture_output=True, check=True, timeout=30,
    )
    assert result.stdout == b"hello"


@pytest.mark.ftp_server(tls="implicit")
def test_curl_implicit(ftp_server, tmp_path):
    upload = tmp_path / "up.txt"
    upload.write_bytes(b"uploaded by curl")
    subprocess.run(
        [
            "curl", "--silent", "--show-error", "--max-time", "20",
            "--cacert", str(ftp_server.ca_cert_path),
            "--user", f"{ftp_server.login}:{ftp_server.password}",
            "--upload-file", str(upload),
            f"{ftp_server.url}/up.txt",  # ftps://127.0.0.1:PORT/up.txt
        ],
        check=True, timeout=30,
    )
    assert ftp_server.read("up.txt") == b"uploaded by curl"
