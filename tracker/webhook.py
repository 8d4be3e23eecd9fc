"""Deliver an alert or a digest to a chat channel's incoming webhook (Slack,
Mattermost, Rocket.Chat, Google Chat: a JSON body with its text in "text"),
instead of by email.

It is a `Mailer` like the SMTP and outbox ones, so an alert is bookkept the
same way: recorded before, delivered only once the webhook answered 2xx. The
webhook's URL is a secret (it carries the token that lets anyone post), so it
is read from the environment variable the config names, at send time, and
messages name only its host.
"""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from urllib.parse import urlsplit

from tracker.errors import DeliveryError
from tracker.fetch import httpx  # its command-line client kept out (see there)

WEBHOOK_TIMEOUT = 20.0
# Mattermost's default limit for a post (Slack's is 40,000).
MAX_TEXT = 16_000
# A broadcast mention in Mattermost and Rocket.Chat ("@channel"), to be broken.
_BROADCAST = re.compile(r"@(?=(?:channel|here|all|everyone)\b)", re.IGNORECASE)


class WebhookMailer:
    """Posts each message's subject and plain-text part to the webhook at the
    address the environment variable `url_env` holds."""

    def __init__(self, url_env: str, proxy: str | None = None,
                 timeout: float = WEBHOOK_TIMEOUT, what: str = "alerts") -> None:
        self.url_env = url_env
        self.proxy = proxy
        self.timeout = timeout
        self.what = f"{what} webhook"  # how errors name it

    def send(self, message: EmailMessage, recipients: list[str]) -> str:
        url = os.environ.get(self.url_env, "").strip()
        if not url:
            raise DeliveryError(f"{self.what}: environment variable {self.url_env} is not "
                                "set (it holds the webhook's address)")
        host = urlsplit(url).hostname or "?"
        if urlsplit(url).scheme not in ("http", "https"):
            raise DeliveryError(f"{self.what}: {self.url_env} is not an http(s) address")
        text = message.get_body(("plain",))
        body = text.get_content() if text is not None else ""
        payload = {"text": fitted(chat_safe(f"{message['Subject']}\n\n{body.strip()}"))}
        try:
            with httpx.Client(timeout=self.timeout, proxy=self.proxy, trust_env=False) as client:
                response = client.post(url, json=payload)
        except httpx.HTTPError as exc:
            reason = (str(exc) or type(exc).__name__).replace(url, host)  # never the token
            raise DeliveryError(f"{self.what} {host}: {reason}") from None
        if not response.is_success:
            raise DeliveryError(f"{self.what} {host}: the server answered "
                                f"{response.status_code} {response.reason_phrase}".rstrip())
        return f"webhook {host}"



def fitted(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters at the last item (a line starting "* ")
    or paragraph before it, saying so: a chat service refuses a longer post, or
    cuts it mid-word. Digests and alerts are built to fit (`briefing`); this
    is for a message that still does not."""
    if len(text) <= limit:
        return text
    note = "\n\n...cut to fit the chat service: `tracker search` finds every item."
    head = text[:limit - len(note)]
    cut = max(head.rfind("\n* "), head.rfind("\n\n"))
    return (head[:cut] if cut > 0 else head).rstrip() + note


def chat_safe(text: str) -> str:
    """Feed text made inert for chat services, which act on some text rather than
    show it: Slack's `<!channel>`, `<@U123>` and `<url|label>`, Google Chat's
    `<users/all>` (angle brackets become the look-alike single guillemets) and
    the "@channel", "@here", "@all" mentions of Mattermost and Rocket.Chat (a
    zero-width space after the "@"). A hostile headline must not page a
    whole channel."""
    return _BROADCAST.sub("@\u200b", text.replace("<", "\u2039").replace(">", "\u203a"))
