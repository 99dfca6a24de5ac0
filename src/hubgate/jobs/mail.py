"""Email: password-reset, invite and sign-up confirmation links and low-balance notices, over
SMTP (`console.smtp`).
Sent by the console pages and the admin API alike, so it lives below both.

Sent with the standard library's smtplib in a worker thread: mail is rare, so no
dependency and nothing blocking on the event loop. STARTTLS (default) or implicit
TLS, both with certificate and host-name checks (`ca_file` trusts a private CA),
then AUTH when a username is set. Links in mail are always built on
`console.public_url` (required with `smtp`), never on the request's Host header,
which a client chooses.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from hubgate.settings import SmtpSettings

log = logging.getLogger("hubgate.jobs.mail")


def message(cfg: SmtpSettings, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(cfg.from_address)[1].rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg.set_content(body)
    return msg


def _tls(cfg: SmtpSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cfg.ca_file)


def deliver(cfg: SmtpSettings, msg: EmailMessage) -> None:
    """Hand `msg` to the SMTP server (blocking: run it in a thread)."""
    smtp: smtplib.SMTP
    if cfg.security == "tls":
        smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=_tls(cfg))
    else:
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
    with smtp:
        smtp.ehlo()
        if cfg.security == "starttls":
            smtp.starttls(context=_tls(cfg))
            smtp.ehlo()
        if cfg.username is not None:
            smtp.login(cfg.username, cfg.password or "")
        smtp.send_message(msg)


async def send(cfg: SmtpSettings, to: str, subject: str, body: str) -> None:
    await asyncio.to_thread(deliver, cfg, message(cfg, to, subject, body))


def in_background(tasks: set[asyncio.Task[None]], work: Awaitable[None], what: str) -> None:
    """Run `work` off the request (an answer must not wait for, or reveal, a mail); a failure
    is logged without the mail's body, which holds a one-time link."""

    async def run() -> None:
        try:
            await work
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("%s: the mail was not sent: %s", what, exc)
        except Exception:
            log.exception("%s failed", what)

    task = asyncio.create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def _same(message: str) -> str:
    return message


# The mails' text is English unless the caller passes a gettext (`_`): the console passes its own,
# in the reader's language (`make i18n-extract` collects these strings into its catalogue).
Gettext = Callable[[str], str]


def reset_mail(site: str, url: str, _: Gettext = _same) -> tuple[str, str]:
    return (
        _("Reset your password"),
        _(
            "Someone, hopefully you, asked to reset the password of your account at %(site)s.\n\n"
            "Choose a new password here (the link works once, within one hour):\n%(url)s\n\n"
            "If you did not ask for this, ignore this email: your password stays as it is.\n"
        )
        % {"site": site, "url": url},
    )


def invite_mail(site: str, url: str, expires: str | None, _: Gettext = _same) -> tuple[str, str]:
    if expires:
        body = _(
            "You are invited to create an account at %(site)s.\n\n"
            "Sign up here (the link works once, until %(expires)s):\n%(url)s\n"
        )
    else:
        body = _(
            "You are invited to create an account at %(site)s.\n\n"
            "Sign up here (the link works once):\n%(url)s\n"
        )
    return (
        _("You are invited to %(site)s") % {"site": site},
        body % {"site": site, "url": url, "expires": expires},
    )


def verify_mail(site: str, url: str, _: Gettext = _same) -> tuple[str, str]:
    return (
        _("Confirm your email address"),
        _(
            "Someone, hopefully you, signed up at %(site)s with this address.\n\n"
            "Confirm it here to finish (the link works once, within a day):\n%(url)s\n\n"
            "If it was not you, ignore this email: nothing happens without the confirmation.\n"
        )
        % {"site": site, "url": url},
    )


def low_balance_mail(
    site: str, balance: str, threshold: str, url: str, _: Gettext = _same
) -> tuple[str, str]:
    return (
        _("Your balance at %(site)s is low") % {"site": site},
        _(
            "The balance of your account at %(site)s is %(balance)s, below %(threshold)s.\n\n"
            "Top up or redeem a code so that your API keys keep working:\n%(url)s\n\n"
            "You get this mail once each time the balance falls below %(threshold)s.\n"
        )
        % {"site": site, "balance": balance, "threshold": threshold, "url": url},
    )
