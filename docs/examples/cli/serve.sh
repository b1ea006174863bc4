mkdir -p public
python -m pytest_ftpserver --root public --user alice:secret --anonymous
