"""The real Claude Code CLI (npm @anthropic-ai/claude-code, pinned in scripts/install-deploy-tools.sh)
against a loopback stand-in of the Anthropic Messages API.

    with messages_stand_in() as api:
        env = claude_env(api, home)   # ANTHROPIC_BASE_URL at the stand-in, a dummy key, a fresh HOME
        run [claude_binary(), "-p", "...", "--allowedTools", "Bash(echo:*)"]
        api.replies  # what the CLI was told, with the usage each reply reported

The stand-in answers every POST /v1/messages with a streamed (SSE) reply: while the request offers
the Bash tool and carries no tool result yet, one turn asking to run `echo`; otherwise a final
text turn. It records each reply's usage, so a test knows the tokens the CLI must report.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.support.deploy_tools import BUILD, install
from tests.support.http_standin import serving

CLAUDE = BUILD / "claude-code" / "node_modules" / ".bin" / "claude"
ECHO_COMMAND = "echo hello-from-the-tool"
INPUT_TOKENS = 120
OUTPUT_TOKENS = 30


def claude_binary() -> Path:
    install("claude-code")
    return CLAUDE


@dataclass(frozen=True)
class Reply:
    kind: str  # "tool_use" or "text"
    model: str
    input_tokens: int = INPUT_TOKENS
    output_tokens: int = OUTPUT_TOKENS


@dataclass
class MessagesStandIn:
    port: int = 0
    replies: list[Reply] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)  # what the CLI sent back from the tool

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tokens(self, kind: str) -> int:
        return sum(getattr(reply, f"{kind}_tokens") for reply in self.replies)


def _tool_results(body: dict[str, Any]) -> list[str]:
    """The tool results the request's last message carries, as text."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content")
    blocks = content if isinstance(content, list) else []
    return [
        json.dumps(b.get("content")) for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"
    ]


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _stream(reply: Reply) -> Iterator[bytes]:
    """One assistant message in the Messages API's streaming events."""
    usage = {"input_tokens": reply.input_tokens, "output_tokens": 1}
    message = {"id": "msg_standin", "type": "message", "role": "assistant", "model": reply.model}
    yield _sse(
        "message_start", {"type": "message_start", "message": {**message, "content": [], "usage": usage}}
    )
    if reply.kind == "tool_use":
        block = {"type": "tool_use", "id": "toolu_standin", "name": "Bash", "input": {}}
        arguments = json.dumps({"command": ECHO_COMMAND, "description": "Say hello"})
        delta = {"type": "input_json_delta", "partial_json": arguments}
    else:
        block = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": "Done: the tool said hello."}
    yield _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
    yield _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    stop = {"stop_reason": reply.kind if reply.kind == "tool_use" else "end_turn", "stop_sequence": None}
    end_usage = {"output_tokens": reply.output_tokens}
    yield _sse("message_delta", {"type": "message_delta", "delta": stop, "usage": end_usage})
    yield _sse("message_stop", {"type": "message_stop"})


def _handler(stand_in: MessagesStandIn, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            if not self.path.startswith("/v1/messages") or "count_tokens" in self.path:
                self._answer(404, b'{"type":"error","error":{"type":"not_found_error"}}')
                return
            results = _tool_results(body)
            offered = {tool.get("name") for tool in body.get("tools") or []}
            asks = "Bash" in offered and not results
            reply = Reply("tool_use" if asks else "text", str(body.get("model")))
            with lock:
                stand_in.replies.append(reply)
                stand_in.tool_results.extend(results)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            for chunk in _stream(reply):
                self.wfile.write(chunk)
            self.close_connection = True

        def do_HEAD(self) -> None:
            self._answer(200, b"")

        def _answer(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `replies`, not a log."""

    return Handler


@contextmanager
def messages_stand_in() -> Iterator[MessagesStandIn]:
    stand_in = MessagesStandIn()
    with serving(_handler(stand_in, threading.Lock()), "messages-stand-in") as port:
        stand_in.port = port
        yield stand_in


def claude_env(api: MessagesStandIn, home: Path, base: dict[str, str]) -> dict[str, str]:
    """`base` plus what points the CLI at the stand-in, in a HOME of its own (no user settings,
    no credentials), with its exporters flushing every half second. Its other traffic (update
    checks, error reports, its own usage telemetry) is switched off: without that it looks up
    outside hosts, and a test here talks to loopback only (checked with strace: 127.0.0.1 only)."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **base,
        "HOME": str(home),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "ANTHROPIC_BASE_URL": api.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
        "OTEL_METRIC_EXPORT_INTERVAL": "500",
        "OTEL_LOGS_EXPORT_INTERVAL": "500",
        "OTEL_TRACES_EXPORT_INTERVAL": "500",
    }
