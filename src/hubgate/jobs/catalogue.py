"""Keeping each process's copy of the model catalogue current: seeded at start when the
table is empty, loaded once, then reloaded whenever any replica changes an entry (the same
revision watch as keys and channels: within a second, no query per request)."""

from __future__ import annotations

import logging

from hubgate.access.watch import RevisionWatch
from hubgate.gateway import Gateway
from hubgate.routing.catalogue import Catalogue, builtin_entries
from hubgate.storage.catalogue import CatalogueRepository

log = logging.getLogger("hubgate.catalogue")


async def reload_catalogue(gw: Gateway) -> None:
    """Read the catalogue and swap it in, with its `vendor/model` names on the channel table."""
    catalogue = Catalogue(await CatalogueRepository(gw.engine).all())
    gw.catalogue = catalogue
    gw.channels = gw.channels.with_aliases(catalogue.aliases)


async def start_catalogue(gw: Gateway, revisions: RevisionWatch) -> None:
    """Seed (idempotent: only an empty table), load, and follow changes."""
    added = await CatalogueRepository(gw.engine).seed(builtin_entries())
    if added:
        log.info("model catalogue seeded with %d built-in models", added)
    await reload_catalogue(gw)
    revisions.follow("catalogue", lambda: reload_catalogue(gw))
