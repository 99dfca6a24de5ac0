"""The settings an admin may change at run time (the `system_settings` table, edited on
/ui/admin/settings): their names there, where each sits in the settings, and how they are laid
over the file's settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubgate.settings.root import Settings

RUNTIME_SETTINGS: dict[str, tuple[str, str]] = {
    "site_name": ("console", "site_name"),
    "announcement": ("console", "announcement"),
    "signup": ("console", "signup"),
    "new_account_credit_usd": ("console", "new_account_credit_usd"),
    "new_account_group": ("console", "new_account_group"),
    "low_balance_usd": ("console", "low_balance_usd"),
    "topup_min_usd": ("payments", "min_usd"),
    "topup_max_usd": ("payments", "max_usd"),
    "default_rpm": ("default_key_limits", "rpm"),
    "default_tpm": ("default_key_limits", "tpm"),
    "default_max_concurrency": ("default_key_limits", "max_concurrency"),
}


def with_runtime(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """The file's settings with the stored run-time values over them; each section is checked
    again (ValidationError if a stored value does not fit)."""
    sections: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        where = RUNTIME_SETTINGS.get(name)
        if where is not None:
            sections.setdefault(where[0], {})[where[1]] = value
    update = {}
    for section, fields in sections.items():
        current = getattr(settings, section)
        update[section] = type(current).model_validate({**current.model_dump(), **fields})
    return settings.model_copy(update=update) if update else settings
