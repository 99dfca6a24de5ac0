from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pydantic
import pytest

from hubgate.providers import registry
from hubgate.settings import (
    DEFAULT_DATABASE_URL,
    ConfigError,
    Settings,
    find_config_path,
    load_settings,
    parse_settings,
    usd_to_micros,
)

SPEC_EXAMPLE = """\
database_url: sqlite+aiosqlite:///./data/hubgate.db   # default; postgresql+asyncpg://... in production
redis_url: null            # redis://127.0.0.1:6379/0 to share limits, caches and state across replicas
admin_key: ${HUBGATE_ADMIN_KEY}   # guards /admin and the CLI's write commands over HTTP
secret_key: ${HUBGATE_SECRET_KEY} # encrypts upstream API keys at rest
max_body_mb: 32

channels:                  # upstream endpoints; also manageable at run time via the admin API
  - name: openai-main      # unique
    type: openai           # adapter: openai | azure | anthropic | gemini | openai-compatible | echo | ...
    base_url: https://api.openai.com/v1
    api_key: ${OPENAI_API_KEY}     # or api_keys: [k1, k2] to spread load over several
    models: [gpt-4o-mini, text-embedding-3-small]   # public model names this channel serves
    model_map: {gpt-fast: gpt-4o-mini}              # public name -> upstream name
    priority: 0            # higher is tried first; lower priorities are fallbacks
    weight: 1              # share among channels of equal priority
    timeout_s: 600
    headers: {}            # extra headers sent upstream

accounts:                  # optional; a key with no account belongs to `default` (no balance limit)
  - name: acme
    balance_usd: 100.0     # prepaid credit; calls draw on it; 402 when it is spent
    group: default         # price multiplier group

groups: {default: 1.0, vip: 0.8}

keys:                      # optional bootstrap keys (also: CLI and admin API)
  - name: alice
    account: acme                # optional
    key: sk-alice-0123456789     # optional fixed secret; stored hashed
    models: [gpt-4o-mini]        # optional allow-list
    budget_usd: 5.0              # optional; spend beyond it is refused with 402
    rpm: 600                     # optional requests per minute
    tpm: 200000                  # optional tokens per minute

pricing:                   # optional overrides of the built-in price table, USD per 1M tokens
  gpt-4o-mini: {input: 0.15, cached_input: 0.075, output: 0.60}
"""

SPEC_ENV = {
    "HUBGATE_ADMIN_KEY": "admin-0123456789abcdef",
    "HUBGATE_SECRET_KEY": "secret",
    "OPENAI_API_KEY": "sk-upstream",
}

ECHO = "{name: e, type: echo, models: [m]}"


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "hubgate.yaml"
    path.write_text(text, encoding="utf-8")
    return registry.load(path, env or {})


def errors(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


# --- finding the file and defaults ---


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None and settings.admin_key is None
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.max_body_mb == 32
    assert settings.groups == {"default": Decimal(1)}
    assert settings.channels == () and settings.keys == () and settings.pricing == {}
    with pytest.raises(pydantic.ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_find_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config_path(None, {}) is None
    (tmp_path / "hubgate.yaml").write_text("port: 9001\n")
    assert find_config_path(None, {}) == Path("hubgate.yaml")
    assert load_settings(env={}).port == 9001
    assert find_config_path(None, {"HUBGATE_CONFIG": "/etc/hg.yaml"}) == Path("/etc/hg.yaml")
    assert find_config_path("x.yaml", {"HUBGATE_CONFIG": "/etc/hg.yaml"}) == Path("x.yaml")


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml", {})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(None, {"HUBGATE_CONFIG": str(tmp_path / "nope.yaml")})


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "# nothing\n") == Settings()


# --- the SPEC example ---


def test_spec_example_parses(tmp_path: Path) -> None:
    settings = load(tmp_path, SPEC_EXAMPLE, SPEC_ENV)
    assert settings.admin_key == "admin-0123456789abcdef"
    assert settings.secret_key == "secret"
    (channel,) = settings.channels
    assert channel.name == "openai-main" and channel.type == "openai"
    assert channel.base_url == "https://api.openai.com/v1"
    assert channel.upstream_keys == ("sk-upstream",)
    # model_map keys are public names too, so they join `models`
    assert channel.models == ("gpt-4o-mini", "text-embedding-3-small", "gpt-fast")
    assert channel.model_map == {"gpt-fast": "gpt-4o-mini"}
    assert channel.api_version is None
    (account,) = settings.accounts
    assert account.balance_usd == Decimal("100") and isinstance(account.balance_usd, Decimal)
    assert settings.groups == {"default": Decimal("1"), "vip": Decimal("0.8")}
    (key,) = settings.keys
    assert (key.account, key.key, key.models) == ("acme", "sk-alice-0123456789", ("gpt-4o-mini",))
    assert (key.budget_usd, key.rpm, key.tpm) == (Decimal("5"), 600, 200000)
    price = settings.pricing["gpt-4o-mini"]
    # exact decimals, not binary floats
    assert (price.input, price.cached_input, price.output) == (
        Decimal("0.15"),
        Decimal("0.075"),
        Decimal("0.6"),
    )
    assert usd_to_micros(price.input) == 150_000


def test_spec_example_reports_every_unset_variable(tmp_path: Path) -> None:
    assert errors(tmp_path, SPEC_EXAMPLE) == [
        "admin_key: environment variable HUBGATE_ADMIN_KEY is not set",
        "secret_key: environment variable HUBGATE_SECRET_KEY is not set",
        "channels[0].api_key: environment variable OPENAI_API_KEY is not set",
    ]


# --- ${VAR} expansion ---


def test_variables_expand_anywhere_in_the_tree(tmp_path: Path) -> None:
    text = """
channels:
  - name: c
    type: openai-compatible
    base_url: https://${HOST}/v1
    api_keys: ["${K1}", "${K2:-fallback}"]
    headers: {Authorization: "Bearer ${TOKEN}", X-Price: "$$5", X-Raw: "$${NOT_EXPANDED}"}
    models: ["${MODEL:-m1}"]
database_url: ${DB:-sqlite:///x.db}
"""
    settings = load(tmp_path, text, {"HOST": "llm.local", "K1": "k1", "TOKEN": "t0k", "MODEL": ""})
    (channel,) = settings.channels
    assert channel.base_url == "https://llm.local/v1"
    assert channel.upstream_keys == ("k1", "fallback")
    assert channel.headers == {"Authorization": "Bearer t0k", "X-Price": "$5", "X-Raw": "${NOT_EXPANDED}"}
    assert channel.models == ("m1",)  # `:-` also applies when the variable is empty
    assert settings.database_url == "sqlite+aiosqlite:///x.db"


def test_variable_values_are_not_expanded_again(tmp_path: Path) -> None:
    settings = load(tmp_path, "secret_key: ${S}\n", {"S": "a$${B}"})
    assert settings.secret_key == "a$${B}"


def test_unset_variable_error_has_the_path(tmp_path: Path) -> None:
    text = """
channels:
  - {name: e, type: echo, models: [m]}
  - {name: o, type: openai, base_url: "https://x", api_key: "${MISSING}", models: [m]}
"""
    assert errors(tmp_path, text) == ["channels[1].api_key: environment variable MISSING is not set"]


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    (error,) = errors(tmp_path, "secret_key: 'abc${oops'\n")
    assert error.startswith("secret_key: malformed reference")


# --- HUBGATE_* overrides ---


def test_environment_overrides_the_file_and_is_coerced(tmp_path: Path) -> None:
    text = "max_body_mb: 8\nport: 8001\nlog_level: debug\nadmin_key: ${UNSET_BUT_OVERRIDDEN}\n"
    env = {
        "HUBGATE_MAX_BODY_MB": "64",
        "HUBGATE_PORT": "9000",
        "HUBGATE_ADMIN_KEY": "k" * 16,
        "HUBGATE_REDIS_URL": "rediss://cache:6380/1",
        "HUBGATE_DATABASE_URL": "postgres://u:p@db/hub",
    }
    settings = load(tmp_path, text, env)
    assert settings.max_body_mb == 64.0 and isinstance(settings.max_body_mb, float)
    assert settings.port == 9000
    assert settings.log_level == "debug"
    assert settings.admin_key == "k" * 16
    assert settings.redis_url == "rediss://cache:6380/1"
    assert settings.database_url == "postgresql+asyncpg://u:p@db/hub"


def test_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    assert errors(tmp_path, "port: 8001\n", {"HUBGATE_PORT": "0"}) == [
        "port: Input should be greater than or equal to 1 (from HUBGATE_PORT)"
    ]


def test_parse_settings_uses_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBGATE_WORKERS", "3")
    monkeypatch.setenv("HG_TEST_SECRET", "s3")
    settings = parse_settings({"secret_key": "${HG_TEST_SECRET}"})
    assert (settings.workers, settings.secret_key) == (3, "s3")


# --- error reporting ---


def test_every_error_is_reported_at_once_with_its_path(tmp_path: Path) -> None:
    text = """
max_body_mb: 0
colour: blue
channels:
  - {name: a, type: echo, models: [m]}
  - {name: b, type: echo, models: [m], weight: -1, wieght: 2}
  - {name: a, type: echo, models: [m]}
  - {name: d, type: carrier-pigeon, models: [m]}
accounts:
  - {name: acme, group: gold}
keys:
  - {name: k1, account: nobody, budget_usd: -5}
  - {name: k1, rpm: 0}
pricing:
  gpt-4.1: {output: 1}
"""
    errs = errors(tmp_path, text)
    # listed in document order, whichever check found them
    assert [e.split(":")[0] for e in errs] == (
        [
            "max_body_mb",
            "colour",
            "channels[1].weight",
            "channels[1].wieght",
            "channels[2].name",
            "channels[3].type",
            "accounts[0].group",
            "keys[0].account",
            "keys[0].budget_usd",
            "keys[1].name",
            "keys[1].rpm",
            "pricing['gpt-4.1'].input",
        ]
    )
    assert "colour: unknown field" in errs
    assert "channels[1].wieght: unknown field" in errs
    assert "channels[2].name: duplicate channel name 'a'" in errs
    assert "keys[1].name: duplicate key name 'k1'" in errs
    assert "keys[0].account: unknown account 'nobody'" in errs
    assert "pricing['gpt-4.1'].input: required field is missing" in errs
    (bad_type,) = [e for e in errs if e.startswith("channels[3].type")]
    assert "'carrier-pigeon'" in bad_type and "openai-compatible" in bad_type and "echo" in bad_type


def test_a_cross_check_alone_is_reported_once(tmp_path: Path) -> None:
    text = f"channels: [{ECHO}, {ECHO}]\naccounts: [{{name: a}}]\nkeys: [{{name: k, account: b}}]\n"
    assert errors(tmp_path, text) == [
        "channels[1].name: duplicate channel name 'e'",
        "keys[0].account: unknown account 'b'",
    ]


def test_cross_checks_also_guard_direct_construction() -> None:
    channel = {"name": "a", "type": "echo", "models": ["m"]}
    with pytest.raises(pydantic.ValidationError, match="duplicate channel name"):
        Settings.model_validate({"channels": [channel, channel]})


def test_yaml_syntax_error_is_one_error_with_line_and_column(tmp_path: Path) -> None:
    (error,) = errors(tmp_path, "port: 8000\nchannels: [\n  {name: a\n")
    assert "invalid YAML at line" in error and "column" in error
    assert error.startswith(str(tmp_path / "hubgate.yaml"))


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    (error,) = errors(tmp_path, "port: 8000\nport: 8001\n")
    assert "duplicate key 'port'" in error and "line 2" in error


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    (error,) = errors(tmp_path, text)
    assert "top level must be a mapping" in error


# --- individual fields ---


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
    ],
)
def test_database_url_normalisation(given: str, expected: str) -> None:
    assert parse_settings({"database_url": given}, env={}).database_url == expected


def test_database_and_redis_urls_are_checked(tmp_path: Path) -> None:
    errs = errors(tmp_path, "database_url: mysql://h/db\nredis_url: http://cache\n")
    assert [e.split(":")[0] for e in errs] == ["database_url", "redis_url"]


def test_empty_optional_strings_mean_unset(tmp_path: Path) -> None:
    settings = load(tmp_path, "redis_url: ${REDIS_URL:-}\n", {"HUBGATE_ADMIN_KEY": ""})
    assert settings.redis_url is None and settings.admin_key is None


def test_admin_key_must_be_long_enough(tmp_path: Path) -> None:
    (error,) = errors(tmp_path, "admin_key: short\n")
    assert error.startswith("admin_key: ")


def test_azure_gets_a_default_api_version(tmp_path: Path) -> None:
    text = """
channels:
  - {name: az, type: azure, base_url: "https://r.openai.azure.com/", api_key: k, models: [m]}
  - name: az2
    type: azure
    base_url: https://r.openai.azure.com
    api_key: k
    models: [m]
    api_version: "2025-01-01"
"""
    az, az2 = load(tmp_path, text).channels
    assert az.api_version == "2024-10-21"
    assert az.base_url == "https://r.openai.azure.com"  # trailing slash stripped
    assert az2.api_version == "2025-01-01"


def test_api_version_is_azure_only(tmp_path: Path) -> None:
    text = "channels:\n  - {name: o, type: openai, base_url: 'https://x', models: [m], api_version: v}\n"
    assert [e.split(":")[0] for e in errors(tmp_path, text)] == ["channels[0].api_version"]


def test_echo_needs_no_base_url_but_openai_does(tmp_path: Path) -> None:
    (echo,) = load(tmp_path, f"channels: [{ECHO}]\n").channels
    assert echo.base_url is None and echo.upstream_keys == ()
    errs = errors(tmp_path, "channels: [{name: o, type: openai, models: [m]}]\n")
    assert errs == ["channels[0].base_url: required for channel type 'openai'"]
    errs = errors(tmp_path, "channels: [{name: o, type: openai, base_url: 'ftp://x', models: [m]}]\n")
    assert [e.split(":")[0] for e in errs] == ["channels[0].base_url"]


def test_api_key_and_api_keys_conflict(tmp_path: Path) -> None:
    text = "channels: [{name: o, type: echo, api_key: a, api_keys: [b, c], models: [m]}]\n"
    assert errors(tmp_path, text) == ["channels[0].api_keys: set either api_key or api_keys, not both"]
    (channel,) = load(tmp_path, "channels: [{name: o, type: echo, api_keys: [b, c], models: [m]}]\n").channels
    assert channel.upstream_keys == ("b", "c")


@pytest.mark.parametrize(
    ("channel", "path"),
    [
        ("{name: 'a/b', type: echo, models: [m]}", "channels[0].name"),
        ("{name: 'a b', type: echo, models: [m]}", "channels[0].name"),
        ("{name: a, type: echo, models: []}", "channels[0].models"),
        ("{name: a, type: echo, models: [m, m]}", "channels[0].models"),
        ("{name: a, type: echo}", "channels[0].models"),
        ("{name: a, type: echo, models: [m], timeout_s: 0}", "channels[0].timeout_s"),
    ],
)
def test_channel_field_checks(tmp_path: Path, channel: str, path: str) -> None:
    assert [e.split(":")[0] for e in errors(tmp_path, f"channels: [{channel}]\n")] == [path]


def test_groups_always_have_default(tmp_path: Path) -> None:
    settings = load(tmp_path, "groups: {vip: 0.8}\naccounts: [{name: a, group: vip}]\n")
    assert settings.groups == {"default": Decimal(1), "vip": Decimal("0.8")}
    assert [e.split(":")[0] for e in errors(tmp_path, "groups: {vip: -1}\n")] == ["groups.vip"]


def test_key_expiry_is_timezone_aware(tmp_path: Path) -> None:
    text = """
keys:
  - {name: a, expires_at: 2030-01-02 03:04:05}
  - {name: b, expires_at: "2030-01-02T03:04:05+02:00"}
"""
    a, b = load(tmp_path, text).keys
    assert a.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert b.expires_at is not None and b.expires_at.utcoffset() is not None
    assert b.expires_at == datetime(2030, 1, 2, 1, 4, 5, tzinfo=UTC)


def test_short_fixed_key_is_rejected(tmp_path: Path) -> None:
    assert [e.split(":")[0] for e in errors(tmp_path, "keys: [{name: a, key: short}]\n")] == ["keys[0].key"]


# --- money ---


@pytest.mark.parametrize(
    ("usd", "micros"),
    [
        (Decimal("0.000001"), 1),
        (Decimal("5"), 5_000_000),
        (Decimal("0.1") + Decimal("0.2"), 300_000),
        (Decimal("0.0000005"), 1),  # half rounds up
        (Decimal("0.00000049"), 0),
        (Decimal("12345678901234567890.123456"), 12345678901234567890123456),
    ],
)
def test_usd_to_micros_is_exact(usd: Decimal, micros: int) -> None:
    assert usd_to_micros(usd) == micros
