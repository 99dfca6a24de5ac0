"""What a channel check leads to: its result recorded, cooldowns ended after a pass, and,
with `channel_auto_disable_after`, the channel switched off after that many failures in a
row (an upstream refusing its key counts like any failure) or once live traffic had every
one of its upstream keys refused; written to the audit log and shown in the channel list
until an admin switches it back on."""

from __future__ import annotations

import asyncio
import logging

from hubgate.gateway import Gateway
from hubgate.routing.probe import ChannelTestResult
from hubgate.routing.runtime import channel_table, load_runtime
from hubgate.storage.audit import AuditRepository

log = logging.getLogger("hubgate.jobs")
ACTOR = "system:health-check"


async def _switch_off(gw: Gateway, channel: str, reason: str, after: dict[str, object]) -> bool:
    admin = gw.admin_channels
    if admin is None or not await admin.auto_disable(channel, reason):
        return False  # no channel management, or already off
    gw.channels = channel_table(gw.settings, await load_runtime(admin))  # others follow the database
    log.warning("channel %s switched off: %s", channel, reason)
    await AuditRepository(gw.engine).record(
        ACTOR, "channels.auto_disable", channel, before={"enabled": True}, after={"enabled": False, **after}
    )
    return True


async def keys_refused(gw: Gateway, channel: str) -> bool:
    """After live traffic had a key refused (auth or balance): with auto-disable on, a channel
    whose every upstream key is now set aside is switched off. True if it was."""
    running = gw.channels.channel(channel)
    if gw.settings.channel_auto_disable_after is None or running is None:
        return False
    if not gw.health.all_set_aside(channel, running.api_keys):
        return False
    reason = "the upstream refused every key of the channel (auth or balance)"
    return await _switch_off(gw, channel, reason, {"reason": reason})


async def record_check(gw: Gateway, result: ChannelTestResult) -> bool:
    """Record one check of a channel; True if it was switched off because of it."""
    admin = gw.admin_channels
    if admin is None:
        if result.ok:
            gw.health.enable(result.channel)
        return False
    failures = await admin.record_test(result.channel, result.status, result.latency_ms, result.error)
    if result.ok:
        gw.health.enable(result.channel)  # a pass re-enables keys set aside and ends cooldowns
        return False
    limit = gw.settings.channel_auto_disable_after
    if limit is None or failures < limit:
        return False
    reason = f"{failures} checks failed in a row; last: {result.error or result.status}"
    return await _switch_off(gw, result.channel, reason, {"reason": reason, "check": result.as_dict()})


def follow_refusals(gw: Gateway) -> None:
    """Have every key refused by an upstream looked at off the request path (`keys_refused`)."""

    async def look(channel: str) -> None:
        try:
            await keys_refused(gw, channel)
        except Exception:
            log.exception("could not switch off channel %s after its keys were refused", channel)

    def refused(channel: str) -> None:
        task = asyncio.get_running_loop().create_task(look(channel))
        gw.background.add(task)
        task.add_done_callback(gw.background.discard)

    gw.health.on_set_aside = refused
