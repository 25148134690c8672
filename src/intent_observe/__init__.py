"""intent-observe: OpenTelemetry-native observability for the Intent loop."""

from intent_observe.version import __version__

__all__ = ["__version__", "emit"]


def __getattr__(name: str) -> object:  # `intent_observe.emit`, imported on first use
    if name == "emit":
        from intent_observe.emitter.emit import emit

        return emit
    raise AttributeError(f"module 'intent_observe' has no attribute {name!r}")
