python -m pytest_ftpserver --demo
