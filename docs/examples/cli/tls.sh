python -m pytest_ftpserver --tls --user alice:secret
