"""Intent's artifact files (`.intent/signals/…`, `intents/`, `specs/`…): front matter and its history."""
