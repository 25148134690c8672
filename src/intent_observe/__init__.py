"""intent-observe: OpenTelemetry-native observability for the Intent loop."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("intent-observe")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
