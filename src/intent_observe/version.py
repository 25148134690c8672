"""The installed package's version, in a module of its own so that reading it imports nothing else."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("intent-observe")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
