"""Low-balance mail: when an account's balance falls below the admin's threshold
(`console.low_balance_usd`, a run-time system setting; off when unset or without `smtp`),
its people get one mail, in each reader's saved language; they get another only after the
balance came back up and fell again. Checked every minute on one replica (no work on the
request path)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from decimal import Decimal

from hubgate.gateway import Gateway
from hubgate.jobs.mail import low_balance_mail, send
from hubgate.jobs.runner import run_exclusive
from hubgate.settings import usd_to_micros
from hubgate.storage.keys import utcnow
from hubgate.storage.low_balance import due, mark, rearm
from hubgate.storage.users import UserRepository

log = logging.getLogger("hubgate.jobs.low_balance")
LOW_BALANCE_INTERVAL_S = 60.0


def _usd(micros: int) -> str:
    return f"${Decimal(micros) / 1_000_000:,.2f}"


async def mail_low_balances(gw: Gateway) -> int:
    """One round: mail the people of every account newly below the threshold; how many mails went."""
    cfg = gw.settings.console
    if cfg.smtp is None or cfg.public_url is None or cfg.low_balance_usd is None:
        return 0
    threshold = usd_to_micros(cfg.low_balance_usd)
    await rearm(gw.engine, threshold)
    found = await due(gw.engine, threshold)
    if not found:
        return 0
    people = await UserRepository(gw.engine).by_account({account_id for account_id, _ in found})
    await mark(gw.engine, [account_id for account_id, _ in found], utcnow())  # once, even if a send fails
    base, sent = cfg.public_url.rstrip("/"), 0
    for account_id, balance in found:
        for user in people.get(account_id, []):
            if user.disabled:
                continue
            written = gw.mail_language(user.language)  # the reader's saved language, else English
            mail = low_balance_mail(base, _usd(balance), _usd(threshold), f"{base}/ui/dashboard", written)
            try:
                await send(cfg.smtp, user.email, *mail)
                sent += 1
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("low-balance mail to user %s not sent: %s", user.id, exc)
    return sent


async def low_balance_mails(gw: Gateway, interval_s: float = LOW_BALANCE_INTERVAL_S) -> None:
    async def round_() -> None:
        await mail_low_balances(gw)

    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_exclusive(gw, "low-balance-mail", interval_s * 0.9, round_)
        except Exception:
            log.exception("low-balance mail round failed")
