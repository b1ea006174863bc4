# From the repository root. The first run makes benchmarks/.env with the peers.
python benchmarks/run.py              # ours against pyftpdlib and aioftp: ~2 minutes
python benchmarks/fixture_cost.py     # what a test pays for ftp_server: ~4 minutes
python benchmarks/tls_throughput.py   # FTPS next to clear text
python benchmarks/throttle_accuracy.py  # the four speed-limit levels against the ideal
