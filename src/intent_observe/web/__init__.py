"""The web app: JSON API, pages, live stream, /metrics and the GitHub webhook (stack/ runs it)."""
