"""The run-time settings: the config file's, with what admins stored in the database over
them; loaded at start, then reloaded whenever any replica changes one (a revision watch,
within a second; no query per request)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from hubgate.access.watch import RevisionWatch
from hubgate.gateway import Gateway
from hubgate.settings import with_runtime
from hubgate.storage.system_settings import SystemSettingsRepository

log = logging.getLogger("hubgate.settings")


async def reload_settings(gw: Gateway) -> None:
    """`gw.settings` := the file's settings with the stored values over them (and the limiter's
    default key limits from them)."""
    if gw.file_settings is None:
        gw.file_settings = gw.settings
    stored = await SystemSettingsRepository(gw.engine).all()
    try:
        gw.settings = with_runtime(gw.file_settings, stored)
    except ValidationError as exc:  # a stored value the file's other settings refuse: keep serving
        log.error("stored system settings not applied: %s", exc.errors()[0].get("msg"))
        gw.settings = gw.file_settings
    gw.limiter.defaults = gw.settings.default_key_limits  # read per request, from memory


async def start_system_settings(gw: Gateway, revisions: RevisionWatch, applied: Callable[[], None]) -> None:
    """Load the stored settings, then follow changes; `applied` runs after each load."""

    async def reload() -> None:
        await reload_settings(gw)
        applied()

    await reload()
    revisions.follow("settings", reload, "system settings")
