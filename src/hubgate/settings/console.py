"""The web console: sign-up, sessions, sign-in limits, OAuth providers, mail."""

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from hubgate.settings.base import Frozen, Money, NonEmpty, Slug

GITHUB_URLS = (
    "https://github.com/login/oauth/authorize",
    "https://github.com/login/oauth/access_token",
    "https://api.github.com/user",
)


class OAuthSettings(Frozen):
    """A sign-in provider for the console: GitHub OAuth, or any OpenID Connect issuer."""

    name: Slug  # in the callback URL: /ui/oauth/<name>/callback
    kind: Literal["github", "oidc"]
    client_id: NonEmpty
    client_secret: NonEmpty
    label: str | None = None  # the button's text (default: "Continue with <name>")
    issuer: str | None = None  # oidc: its discovery document is <issuer>/.well-known/openid-configuration
    authorize_url: str | None = None  # override what discovery (or GitHub's defaults) gives
    token_url: str | None = None
    userinfo_url: str | None = None
    scopes: tuple[str, ...] | None = None  # default: "read:user user:email" / "openid email profile"

    @model_validator(mode="after")
    def _endpoints(self) -> "OAuthSettings":
        explicit = (self.authorize_url, self.token_url, self.userinfo_url)
        if self.kind == "oidc" and self.issuer is None and None in explicit:
            raise ValueError("an oidc provider needs issuer (or authorize_url, token_url and userinfo_url)")
        return self


class SmtpSettings(Frozen):
    """Where the console sends mail from: password-reset links and invites."""

    host: NonEmpty
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"  # tls: implicit TLS (usually port 465)
    username: str | None = None
    password: str | None = None
    from_address: NonEmpty  # e.g. "hubgate <noreply@example.com>"
    ca_file: str | None = None  # a CA bundle to trust instead of the system's (a private relay)
    timeout_s: float = Field(default=10, gt=0, allow_inf_nan=False)


class ConsoleSettings(Frozen):
    """The web console at /ui: who may sign up, sessions, and the sign-in limits (SPEC §3)."""

    enabled: bool = True
    signup: Literal["open", "invite", "closed"] = "invite"
    new_account_credit_usd: Money = Decimal(0)  # credit given to an account made by sign-up
    new_account_group: str = "default"
    session_ttl_hours: float = Field(default=168, gt=0, allow_inf_nan=False)
    cookie_secure: Literal["auto", "always", "never"] = "auto"  # auto: Secure when served over https
    admin_email: str | None = None  # created as an admin at start-up if no such user exists
    admin_password: str | None = Field(default=None, min_length=8)
    login_rpm: int = Field(default=10, ge=1)  # per client address
    signup_rpm: int = Field(default=5, ge=1)
    reset_rpm: int = Field(default=5, ge=1)
    lockout_failures: int = Field(default=5, ge=1)  # failed log-ins in a row that lock an account
    lockout_minutes: float = Field(default=15, gt=0, allow_inf_nan=False)
    public_url: str | None = None  # e.g. https://gw.example.com: the base of OAuth callback URLs
    oauth: tuple[OAuthSettings, ...] = ()
    smtp: SmtpSettings | None = None  # mail reset links (self-service "forgot password") and invites
    verify_email: bool = False  # sign-ups confirm their address from a mailed link before logging in
    site_name: str = Field(default="hubgate", min_length=1, max_length=64)  # the console's title
    announcement: str | None = Field(default=None, max_length=2000)  # a banner on every console page
    low_balance_usd: Money | None = None  # mail an account's people when its balance falls below (smtp)

    @model_validator(mode="after")
    def _admin_pair(self) -> "ConsoleSettings":
        if (self.admin_email is None) != (self.admin_password is None):
            raise ValueError("admin_email and admin_password are set together")
        if self.verify_email and self.smtp is None:
            raise ValueError("verify_email needs smtp: the confirmation link is mailed")
        if self.smtp is not None and self.public_url is None:
            # Links in mail must not be built on the Host header a client sends.
            raise ValueError("smtp needs public_url: the links it mails are built on it")
        return self
