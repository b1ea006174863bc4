"""``@pytest.mark.ftp_server(tls=...)``: a per-session test CA that real clients verify."""

from __future__ import annotations

import shutil

import pytest

# Imported here, before any inner session: pytester's in-process runs forget the modules
# they imported, and cryptography's Rust core cannot be imported a second time.
pytest.importorskip("trustme")

pytest_plugins = ["pytester"]


def test_explicit_tls_with_ftplib_verifying_the_certificate(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import ftplib, io, ssl, pytest

        @pytest.mark.ftp_server(tls=True)
        def test_explicit(ftp_server):
            assert ftp_server.url.startswith("ftp://")
            pem = ftp_server.ca_cert_path.read_text()
            assert pem.startswith("-----BEGIN CERTIFICATE-----")
            context = ftp_server.client_ssl_context()
            assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
            ftp_server.put("secret.txt", b"over TLS")
            with ftplib.FTP_TLS(context=context) as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                ftp.login(ftp_server.login, ftp_server.password)  # AUTH TLS first
                ftp.prot_p()
                data = io.BytesIO()
                ftp.retrbinary("RETR secret.txt", data.write)
                assert data.getvalue() == b"over TLS"
                ftp.storbinary("STOR back.txt", io.BytesIO(b"stored over TLS"))
            assert ftp_server.read("back.txt") == b"stored over TLS"
            ftp_server.assert_received("AUTH", "TLS")
            ftp_server.assert_received("PROT", "P")

        @pytest.mark.ftp_server(tls=True)
        def test_same_ca_for_the_whole_session(ftp_server, ftp_server_ca):
            assert ftp_server.ca_cert_path == ftp_server_ca.ca_cert_path

        @pytest.mark.ftp_server(tls=True, tls_required=True)
        def test_tls_required_refuses_clear_login(ftp_server):
            with ftplib.FTP() as ftp:
                ftp.connect(ftp_server.host, ftp_server.port)
                with pytest.raises(ftplib.error_perm, match="^5(30|34)"):
                    ftp.login(ftp_server.login, ftp_server.password)

        def test_no_tls_no_context(ftp_server):
            assert ftp_server.ca_cert_path is None
            with pytest.raises(RuntimeError, match="tls=True"):
                ftp_server.client_ssl_context()
        """
    )
    inner.runpytest().assert_outcomes(passed=4)


def test_implicit_tls_with_aioftp(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import asyncio, aioftp, pytest

        async def download(server, path):
            client = aioftp.Client(ssl=server.client_ssl_context())
            await client.connect(server.host, server.port)
            try:
                await client.login(server.login, server.password)
                async with client.download_stream(path) as stream:
                    return await stream.read()
            finally:
                client.close()

        @pytest.mark.ftp_server(tls="implicit", backend="memory")
        @pytest.mark.asyncio
        async def test_implicit(ftp_server):
            assert ftp_server.url == f"ftps://127.0.0.1:{ftp_server.port}"
            ftp_server.put("/pub/hello.txt", b"implicit")
            data = await asyncio.wait_for(download(ftp_server, "/pub/hello.txt"), 10)
            assert data == b"implicit"
        """
    )
    inner.runpytest("--tb=native").assert_outcomes(passed=1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_cacert_explicit_and_implicit(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import subprocess, pytest

        def curl(*args):
            return subprocess.run(
                ["curl", "--silent", "--show-error", "--max-time", "5", *args],
                capture_output=True, check=True, timeout=15,
            ).stdout

        @pytest.mark.ftp_server(tls=True)
        def test_explicit(ftp_server):
            ftp_server.put("a.txt", b"explicit via curl")
            out = curl("--ssl-reqd", "--cacert", str(ftp_server.ca_cert_path),
                       "--user", f"{ftp_server.login}:{ftp_server.password}",
                       f"{ftp_server.url}/a.txt")
            assert out == b"explicit via curl"

        @pytest.mark.ftp_server(tls="implicit")
        def test_implicit(ftp_server):
            ftp_server.put("b.txt", b"implicit via curl")
            out = curl("--cacert", str(ftp_server.ca_cert_path),
                       "--user", f"{ftp_server.login}:{ftp_server.password}",
                       f"{ftp_server.url}/b.txt")
            assert out == b"implicit via curl"
        """
    )
    inner.runpytest().assert_outcomes(passed=2)
