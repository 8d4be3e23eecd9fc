"""The one exception tree of tracker.

    TrackerError                 anything tracker raises on purpose
    ├── ConfigError              the config file is unreadable or invalid
    ├── StoreError               the database cannot be opened, or is not tracker's
    ├── FetchError               a feed could not be fetched
    │   ├── BlockedAddressError  the URL or a redirect hop points at a private address
    │   ├── TooLargeError        the body passed the byte cap
    │   ├── DeadlineError        the whole fetch passed its deadline
    │   ├── TooManyRedirects     a redirect loop or an over-long chain
    │   └── HTTPStatusError      the server answered with an error status
    ├── ParseError               the bytes are not a readable feed
    ├── DeliveryError            a digest could not be delivered (nothing marked sent)
    └── BackupError              a backup could not be written (nothing replaced)

Each message is written for the person reading `tracker status`: it names the
thing and says what went wrong, in one line.
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error tracker raises on purpose."""


class ConfigError(TrackerError):
    """The configuration cannot be used; nothing has been written anywhere."""


class StoreError(TrackerError):
    """The database file cannot be created or opened, or is not a tracker
    database; nothing in it has been changed."""


class FetchError(TrackerError):
    """A feed could not be fetched; recorded on that feed, the others go on."""


class BlockedAddressError(FetchError):
    """The host resolves to an address tracker refuses to contact."""


class TooLargeError(FetchError):
    """The response body is larger than the configured cap."""


class DeadlineError(FetchError):
    """The fetch took longer than its total deadline."""


class TooManyRedirects(FetchError):
    """The server redirected in a loop or too many times."""


class HTTPStatusError(FetchError):
    """The server answered with a status that carries no feed."""

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ParseError(TrackerError):
    """The document is not a feed tracker can read."""


class ParserFailure(ParseError):
    """Parsing was cut off (its time or memory limit) or the parser process died:
    unlike a document that is not a feed, the same bytes are tried again."""


class DeliveryError(TrackerError):
    """The digest was not accepted; it stays pending and the next attempt resends it."""


class BackupError(TrackerError):
    """A backup could not be written; the database and any earlier backup at the
    destination are as they were."""


def reason(exc: BaseException) -> str:
    """An OS or SQLite error as the few words a message quotes: "No space left
    on device", not "[Errno 28] No space left on device: '/var/lib/...'"."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
