"""Keeping each process's copy of the model catalogue current: seeded at start when the
table is empty, loaded once, then reloaded whenever any replica changes an entry (the same
revision watch as keys and channels: within a second, no query per request)."""

from __future__ import annotations

import asyncio
import logging

from hubgate.access.watch import watch_revision
from hubgate.gateway import Gateway
from hubgate.routing.catalogue import Catalogue, builtin_entries
from hubgate.storage.catalogue import CatalogueRepository

log = logging.getLogger("hubgate.catalogue")

CATALOGUE_WATCH_INTERVAL_S = 1.0


async def reload_catalogue(gw: Gateway) -> None:
    """Read the catalogue and swap it in, with its `vendor/model` names on the channel table."""
    catalogue = Catalogue(await CatalogueRepository(gw.engine).all())
    gw.catalogue = catalogue
    gw.channels = gw.channels.with_aliases(catalogue.aliases)


async def start_catalogue(gw: Gateway) -> asyncio.Task[None]:
    """Seed (idempotent: only an empty table), load, and start the watcher task."""
    repo = CatalogueRepository(gw.engine)
    added = await repo.seed(builtin_entries())
    if added:
        log.info("model catalogue seeded with %d built-in models", added)
    await reload_catalogue(gw)
    return asyncio.create_task(
        watch_revision(repo.revision, lambda: reload_catalogue(gw), CATALOGUE_WATCH_INTERVAL_S, "catalogue"),
        name="catalogue-watch",
    )
