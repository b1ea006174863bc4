"""The standalone server as a subprocess: for test suites in any language, or by hand."""

import ftplib
import re
import signal
import subprocess
import sys

process = subprocess.Popen(
    [sys.executable, "-m", "pytest_ftpserver", "--memory", "--user", "ivan:pw"],
    stdout=subprocess.PIPE,
    text=True,
)
try:
    first_line = process.stdout.readline()  # printed once the server listens
    print(first_line.strip())  # serving in-memory tree on ftp://127.0.0.1:PORT
    host, port = re.search(r"ftp://([\d.]+):(\d+)", first_line).groups()

    with ftplib.FTP() as ftp:
        ftp.connect(host, int(port), timeout=10)
        ftp.login("ivan", "pw")
        ftp.mkd("made-from-outside")
        print(ftp.nlst())
finally:
    process.send_signal(signal.SIGINT)  # or SIGTERM: the server stops and exits 0
    assert process.wait(timeout=10) == 0
    process.stdout.close()
