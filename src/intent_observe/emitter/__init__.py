"""The emitter: well-formed Intent events appended to a repository's events file, trace context filled in."""
