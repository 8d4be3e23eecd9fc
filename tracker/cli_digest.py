"""`tracker digest`: preview, send or check the main digest or a named one.
Jinja2, the HTML sanitiser and SMTP are imported inside the command, so
that other commands start without them."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import click

from tracker.cliapp import App, pass_app
from tracker.config import Config, DigestSettings, NamedDigest, digest_label
from tracker.errors import ConfigError, DeliveryError
from tracker.timefmt import utc_now
from tracker.wording import span


@click.command()
@click.argument("name", required=False)
@click.option("--preview", "mode", flag_value="preview", default=True,
              help="Render without sending or marking anything delivered (the default).")
@click.option("--send", "mode", flag_value="send", help="Send now (SMTP, or the outbox folder).")
@click.option("--check", "mode", flag_value="check",
              help="Check the digest and SMTP configuration without sending.")
@click.option("--html", "html_path", type=click.Path(path_type=Path),
              default=Path("tracker-digest.html"), show_default=True,
              help="With --preview: where to write the HTML part.")
@pass_app
def digest(app: App, name: str | None, mode: str, html_path: Path) -> None:
    """The email digest of what is new since the last one delivered (NAME: the
    digest of [digests.NAME] instead of the main one).

    --preview prints the plain-text part and writes the HTML part to a file;
    --send records the digest, sends it, and marks it delivered only once the
    server accepted it (without SMTP configured, it is written as an .eml file
    to the outbox folder); --check tests the configuration before the first
    scheduled send.
    """
    from tracker.briefing import mailer_for, prepare, send_digest

    config, now = app.config, utc_now()
    named = _named_digest(config, name)
    label = digest_label(named)
    if mode == "check":
        _check_digest(app)
        return
    if mode == "send":
        try:
            result = send_digest(app.store, config, mailer_for(config, app.db_path, named), now,
                                 named)
        except DeliveryError as exc:
            raise click.ClickException(f"{label} not delivered: {exc}") from None
        click.echo(result.message)
        return
    content = prepare(app.store, config, now, named)
    if content is None:
        click.echo(f"nothing new since the last {label}; none would be sent")
        return
    try:
        html_path.write_text(content.html, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{html_path}: cannot write the HTML part "
                                   f"({exc.strerror or exc}); pass --html FILE in a folder you "
                                   "may write") from None
    click.echo(f"Subject: {content.subject}\n")
    click.echo(content.text)
    click.echo(f"(HTML part written to {html_path}; nothing was sent or marked delivered)",
               err=True)


def _named_digest(config: Config, name: str | None) -> NamedDigest | None:
    """The `[digests.NAME]` asked for (None: the main digest)."""
    if name is None:
        return None
    named = config.named_digest(name)
    if named is not None:
        return named
    known = ", ".join(named.name for named in config.digests) or "none"
    raise click.UsageError(f"no digest {name!r} in the config: [digests.{name}] is not "
                           f"there (named digests: {known})")


def _check_digest(app: App) -> None:
    """Every digest's schedule and what it reports, the alerts' webhook, and
    the mail server (connect, TLS, log in) or the outbox folder."""
    from tracker.briefing import mailer_for
    from tracker.daemon import digest_trigger
    from tracker.mail import OutboxMailer, SmtpMailer

    settings = app.config.digest
    try:
        digest_trigger(app.config)
        for named in app.config.digests:
            digest_trigger(app.config, named)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(_digest_line(settings, app.config.timezone))
    for named in app.config.digests:
        to = (_webhook_host(named.webhook_env, f"[digests.{named.name}]") if named.webhook_env
              else ", ".join(named.settings.to))
        alerts = ""
        if named.alerts:
            alerting = app.config.alert_topics_of(named)
            alerts = (f"; alerts of {', '.join(alerting)}" if alerting
                      else "; alerts = true, but none of its topics alerts")
        follows = "; with the followed storylines" if named.following else ""
        click.echo(f"{named.label}: {_digest_line(named.settings, app.config.timezone)}; to {to}"
                   + follows + alerts)
    if app.config.alert_topics:
        every, quiet = app.config.alerts.at_most_every_seconds, app.config.alerts.quiet_hours
        limits = ([f"at most every {span(every)}"] if every else []) + (
            [f"none {quiet[0]:%H:%M}-{quiet[1]:%H:%M} {app.config.timezone}"] if quiet else [])
        click.echo("alerts: after each poll"
                   + (f" ({'; '.join(limits)})" if limits else "")
                   + f", the new matches of {', '.join(app.config.alert_topics)}")
    webhook = app.config.alerts.webhook_env
    if webhook:
        click.echo(f"alerts go to {_webhook_host(webhook, '[alerts]')}")
    if settings.smtp is None:
        folder = mailer_for(app.config, app.db_path)
        assert isinstance(folder, OutboxMailer)
        click.echo(f"no [digest.smtp]: digests are written as .eml files to {folder.folder}")
        return
    if not settings.to:
        raise click.ClickException("[digest] has SMTP but no recipients: set to = [...]")
    try:
        click.echo(SmtpMailer(settings.smtp).check())
    except DeliveryError as exc:
        raise click.ClickException(f"digest configuration problem: {exc}") from None
    click.echo(f"recipients: {', '.join(settings.to)}")


def _webhook_host(variable: str, table: str) -> str:
    """"the webhook in VARIABLE (host ...)", or a ClickException when the
    variable the config names is not set."""
    address = os.environ.get(variable, "").strip()
    if not address:
        raise click.ClickException(f"{table} webhook_env: environment variable {variable} "
                                   "is not set (it holds the webhook's address)")
    return f"the webhook in {variable} (host {urlsplit(address).hostname})"


def _digest_line(settings: DigestSettings, timezone: str) -> str:
    chosen = f" of {', '.join(settings.topics)}" if settings.topics is not None else ""
    grouped = "; by storyline" if settings.group == "storyline" else ""
    return (f"schedule: {settings.schedule} ({timezone}); include: {settings.include}{chosen}"
            f"{grouped}; at most {settings.max_items} items")

