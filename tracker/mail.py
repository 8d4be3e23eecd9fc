"""Deliver a composed digest: over SMTP, or as an .eml file in an outbox folder.

Credentials are read from the environment variables the config names, at send
time, never from the config file. Every failure is a DeliveryError that says
where it failed and that nothing was marked delivered.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from tracker.config import SmtpSettings
from tracker.errors import DeliveryError
from tracker.wording import counted


class Mailer(Protocol):
    def send(self, message: EmailMessage, recipients: list[str]) -> str:
        """Deliver; return a short description of where it went."""
        ...


class SmtpMailer:
    """SMTP with STARTTLS, implicit TLS, or (local relays only) plain."""

    def __init__(self, settings: SmtpSettings, context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.context = context or ssl.create_default_context()

    def _credentials(self) -> tuple[str, str] | None:
        names = (self.settings.username_env, self.settings.password_env)
        if not any(names):
            return None
        missing = [name for name in names if not name or name not in os.environ]
        if missing:
            raise DeliveryError(f"SMTP credentials: environment variable(s) "
                                f"{', '.join(str(m) for m in missing)} not set")
        return os.environ[str(names[0])], os.environ[str(names[1])]

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        where = f"SMTP server {s.host}:{s.port}"
        try:
            if s.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                        context=self.context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    client.starttls(context=self.context)
            credentials = self._credentials()
            if credentials:
                client.login(*credentials)
            return client
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where}: {_describe(exc)}") from None

    def check(self) -> str:
        """Connect, secure, log in and quit without sending: a configuration test."""
        client = self._connect()
        try:
            client.noop()
        finally:
            _quit(client)
        return f"SMTP server {self.settings.host}:{self.settings.port} accepts us"

    def send(self, message: EmailMessage, recipients: list[str]) -> str:
        if not recipients:
            raise DeliveryError("no recipients: set to = [...] in [digest]")
        client = self._connect()
        where = f"SMTP server {self.settings.host}:{self.settings.port}"
        try:
            refused = client.send_message(message, to_addrs=recipients)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{where}: {_describe(exc)}; nothing was marked delivered, "
                                "the next attempt resends it") from None
        finally:
            _quit(client)
        if refused:
            return f"{where}; refused for {', '.join(refused)}"
        return f"{where} to {counted(len(recipients), 'recipient')}"


class OutboxMailer:
    """Writes each digest as an .eml file: the default when no SMTP is configured."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage, recipients: list[str]) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = str(message["Message-ID"]).strip("<>").split("@")[0]
            target = self.folder / f"{name}.eml"
            with tempfile.NamedTemporaryFile("wb", dir=self.folder, delete=False,
                                             suffix=".tmp") as handle:
                handle.write(message.as_bytes())
            os.replace(handle.name, target)  # a reader never sees half a file
        except OSError as exc:
            raise DeliveryError(f"outbox {self.folder}: {exc}") from None
        return str(target)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
            else str(exc.smtp_error)
        return f"the server answered {exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    return str(exc) or type(exc).__name__


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
