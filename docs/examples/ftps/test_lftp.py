"""lftp against the fixture, trusting the test CA and refusing to go on in clear text."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("lftp") is None, reason="needs lftp")


@pytest.mark.ftp_server(tls=True)
def test_lftp_explicit(ftp_server):
    ftp_server.put("dir/a.txt", b"A")
    script = "; ".join([
        f"set ssl:ca-file {ftp_server.ca_cert_path}",
        "set ftp:ssl-force true",  # AUTH TLS before the login, or fail
        "set ftp:ssl-protect-data true",  # PROT P
        "set net:max-retries 1",
        "set net:timeout 10",
        f"open -u {ftp_server.login},{ftp_server.password} {ftp_server.url}",
        "cat dir/a.txt",
    ])
    result = subprocess.run(["lftp", "-c", script], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"A"
