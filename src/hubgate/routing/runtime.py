"""The running channel table: the config file's channels plus the admin API's."""

from __future__ import annotations

import logging

from hubgate.providers.channel import Channel
from hubgate.routing.channels import ChannelTable
from hubgate.settings import Settings
from hubgate.storage.channels import AdminChannels, RuntimeChannels
from hubgate.storage.secrets import SecretsUnavailable

log = logging.getLogger("hubgate.routing")


def channel_table(settings: Settings, runtime: RuntimeChannels | None) -> ChannelTable:
    """The config file's channels plus the admin API's, each on unless switched off."""
    configured = list(settings.channels)
    enabled = runtime.enabled if runtime is not None else {}
    if runtime is not None:
        names = {c.name for c in configured}
        configured += [c for c in runtime.admin if c.name not in names]
    return ChannelTable(Channel.from_settings(c) for c in configured if enabled.get(c.name, c.enabled))


async def load_runtime(admin: AdminChannels) -> RuntimeChannels | None:
    try:
        return await admin.runtime()
    except SecretsUnavailable:
        log.error(
            "admin-created channels are stored but secret_key cannot open them; serving config channels only"
        )
        return None
