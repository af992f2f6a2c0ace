"""The release of this package: the one place it is written (hatch reads it
for `pyproject.toml`, `registry.__version__` and the server report it)."""

__version__ = "0.1.0"
