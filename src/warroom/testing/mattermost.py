"""A Mattermost incoming webhook on 127.0.0.1: `ok` for a message with text, else 400."""

from __future__ import annotations

from warroom.testing.http import HttpFake
from warroom.testing.recording import Delivered, RecordedRequest, Reply


class FakeMattermost(HttpFake):
    """`POST /hooks/<id>` with `{"text": …}`, answered as Mattermost does."""

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/xjf7ce8n1pfn8k3fakehook"

    def _route(self, request: RecordedRequest) -> tuple[Reply, list[Delivered]]:
        if request.method != "POST" or not request.path.startswith("/hooks/"):
            return Reply(404, b"404 page not found"), []
        try:
            document = request.json()
        except ValueError:
            return Reply.json(400, _app_error("Unable to parse incoming data")), []
        text = document.get("text") if isinstance(document, dict) else None
        if not isinstance(text, str) or not text.strip():
            return Reply.json(400, _app_error("No text specified")), []
        delivered = Delivered(f"{self.base}{request.path}", text, {"json": document})
        return Reply(200, b"ok", {"Content-Type": "text/plain"}), [delivered]


def _app_error(message: str) -> dict[str, object]:
    return {
        "id": "web.incoming_webhook.text.app_error",
        "message": message,
        "detailed_error": "",
        "status_code": 400,
    }
