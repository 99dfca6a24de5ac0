"""Configuration: a YAML file plus the environment -> frozen, validated `Settings` (SPEC §3).

The package's API is what this module exports; its modules split it by concern:
`base` (frozen models, shared field types, ConfigError), `channels`, `money` (accounts, keys,
prices, holds' caps), `console`, `payments`, `rate_limits`, `root` (`Settings` itself),
`references` (cross-entry checks) and `loading` (YAML, `${VAR}` expansion, `HUBGATE_*`).
It imports nothing else from hubgate: channel types are checked through `ChannelKinds`.
"""

from hubgate.settings.base import ConfigError, Loc, Money, Name, NonEmpty, Secret, Slug
from hubgate.settings.channels import CHANNEL_KINDS, ChannelKind, ChannelKinds, ChannelSettings
from hubgate.settings.console import GITHUB_URLS, ConsoleSettings, OAuthSettings, SmtpSettings
from hubgate.settings.loading import ENV_PREFIX, find_config_path, load_settings, parse_settings
from hubgate.settings.money import AccountSettings, KeySettings, PriceSettings, ratio_to_micros, usd_to_micros
from hubgate.settings.payments import BonusTier, EpaySettings, PaymentSettings, StripeSettings
from hubgate.settings.rate_limits import KeyLimitDefaults, RateClassSettings, RateLimitSettings
from hubgate.settings.root import DEFAULT_DATABASE_URL, LOG_LEVELS, Settings
from hubgate.settings.runtime import RUNTIME_SETTINGS, with_runtime

__all__ = [
    "CHANNEL_KINDS",
    "DEFAULT_DATABASE_URL",
    "ENV_PREFIX",
    "GITHUB_URLS",
    "LOG_LEVELS",
    "RUNTIME_SETTINGS",
    "AccountSettings",
    "BonusTier",
    "ChannelKind",
    "ChannelKinds",
    "ChannelSettings",
    "ConfigError",
    "ConsoleSettings",
    "EpaySettings",
    "KeyLimitDefaults",
    "KeySettings",
    "Loc",
    "Money",
    "Name",
    "NonEmpty",
    "OAuthSettings",
    "PaymentSettings",
    "PriceSettings",
    "RateClassSettings",
    "RateLimitSettings",
    "Secret",
    "Settings",
    "Slug",
    "SmtpSettings",
    "StripeSettings",
    "find_config_path",
    "load_settings",
    "parse_settings",
    "ratio_to_micros",
    "usd_to_micros",
    "with_runtime",
]
