"""The console's translation hook: `_` marks a user-visible string, `N_` one translated later.

A minimal stand-in (English as written); the translated catalogues replace it without changing
callers. Python formats after translating (`_("Key %(name)s saved.") % {"name": n}`);
templates pass the values (`{{ _("Key %(name)s", name=n) }}`, newstyle gettext).
"""

from __future__ import annotations


def _(message: str, **values: object) -> str:
    """The message in the viewer's language (here: as written), with `values` filled in."""
    return message % values if values else message


def N_(message: str) -> str:  # the gettext marker's usual name
    """Marks a message for extraction; it is translated where it is shown."""
    return message


__all__ = ["N_", "_"]
