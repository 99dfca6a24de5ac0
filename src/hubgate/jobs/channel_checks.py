"""What a channel check leads to: its result recorded, cooldowns ended after a pass, and,
with `channel_auto_disable_after`, the channel switched off after that many failures in a
row (an upstream refusing its key counts like any failure), written to the audit log and
shown in the channel list until an admin switches it back on."""

from __future__ import annotations

import logging

from hubgate.gateway import Gateway
from hubgate.routing.probe import ChannelTestResult
from hubgate.routing.runtime import channel_table, load_runtime
from hubgate.storage.audit import AuditRepository

log = logging.getLogger("hubgate.jobs")
ACTOR = "system:health-check"


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
    if not await admin.auto_disable(result.channel, reason):
        return False  # already off
    gw.channels = channel_table(gw.settings, await load_runtime(admin))  # others follow the database
    log.warning("channel %s switched off: %s", result.channel, reason)
    await AuditRepository(gw.engine).record(
        ACTOR, "channels.auto_disable", result.channel,
        before={"enabled": True}, after={"enabled": False, "reason": reason, "check": result.as_dict()},
    )  # fmt: skip
    return True
