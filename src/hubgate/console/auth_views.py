"""Sign-up, log-in (with the optional TOTP step), log-out and password reset.

A log-in never reuses a session id the browser brought along (session fixation): the
old session, if any, is ended and a new id is issued, and again after the TOTP step.
Failed log-ins count per user and lock it for `lockout_minutes` after
`lockout_failures` in a row; each form is also limited per client address.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

from aiohttp import web
from email_validator import EmailNotValidError, validate_email

from hubgate.admin.session import Console, console_of, cookie_name, gateway, load_session
from hubgate.console import passwords, totp
from hubgate.console.i18n import N_, _, current, gettext
from hubgate.console.oauth import providers
from hubgate.console.users import confirmed, create_user
from hubgate.console.web import (
    check_csrf,
    clear_session_cookie,
    flash_to,
    form,
    go,
    limit,
    pre_session_token,
    redirect,
    render,
    session_ttl,
    set_session_cookie,
    sign_in,
    signed_in,
    take_flash,
)
from hubgate.gateway import Gateway
from hubgate.jobs.mail import in_background, reset_mail, send, verify_mail
from hubgate.storage.keys import utcnow
from hubgate.storage.users import RESET_TTL, VERIFY_TTL, User, UserRepository, digest

log = logging.getLogger("hubgate.console")

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
MAILS_PER_HOUR = 3  # reset or confirmation links to one address
RESET_REFUSED = N_("This reset link is not valid (unknown, used or expired). Ask for a new one.")
INVITE_REFUSED = N_("This invite code is not valid (unknown, used or expired).")


def _next(target: str | None) -> str:
    """Only same-site console paths are followed after log-in (no open redirects)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/dashboard"


def _page(request: web.Request, template: str, status: int = 200, **context: object) -> web.Response:
    """A page shown before sign-in: carries the double-submit CSRF token (and its cookie)."""
    pre_session_token(request)
    resp = render(request, template, status=status, **context)
    pre_session_token(request, resp)
    return resp


async def login_form(request: web.Request) -> web.StreamResponse:
    session = await load_session(request)
    if session is not None and not session.mfa_pending:
        raise redirect("/ui/dashboard")
    notice = take_flash(request).get("notice")
    return _page(request, "login.html", next=_next(request.query.get("next")), error=None, email="",
                 signup=gateway(request).settings.console.signup, providers=providers(request),
                 notice=notice if isinstance(notice, str) else None)  # fmt: skip


async def login(request: web.Request) -> web.StreamResponse:
    cfg = gateway(request).settings.console
    data = await form(request)
    await load_session(request)  # its token is accepted too
    check_csrf(request, None, data.get("csrf"))
    await limit(request, "login", cfg.login_rpm)
    email, password = data.get("email", "").strip().lower(), data.get("password", "")
    target = _next(data.get("next"))
    users = console_of(request).users
    user = await users.by_email(email) if email else None
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    error = None
    status = 200
    if user is not None and user.locked(utcnow()):
        error, status = (
            _("Too many failed attempts: this account is locked for a while. Try again later."),
            423,
        )
    elif user is None or not ok:
        if user is not None:
            await users.login_failed(
                user, lock_after=cfg.lockout_failures, lock_for=timedelta(minutes=cfg.lockout_minutes)
            )
        log.info("console log-in failed for %r", email)  # the password itself is never logged
        error, status = _("Incorrect email or password."), 401
    elif user.disabled:
        error, status = _("This account is disabled. Ask an administrator."), 403
    elif cfg.verify_email and user.email_verified_at is None:
        error, status = (
            _("Confirm your email address first: follow the link we mailed to %(email)s.")
            % {"email": user.email},
            403,
        )
    if error is not None:
        return _page(request, "login.html", status=status, next=target, error=error, email=email,
                     signup=cfg.signup, providers=providers(request),
                     resend=status == 403 and user is not None and not user.disabled)  # fmt: skip
    assert user is not None
    log.info("console log-in: %s", user.email)
    return await sign_in(request, user, target)


async def totp_form(request: web.Request) -> web.StreamResponse:
    session = await load_session(request)
    if session is None or not session.mfa_pending:
        raise redirect("/ui/login")
    return render(request, "totp.html", next=_next(request.query.get("next")), error=None)


async def totp_submit(request: web.Request) -> web.StreamResponse:
    session = await load_session(request)
    if session is None or not session.mfa_pending:
        raise redirect("/ui/login")
    data = await form(request)
    check_csrf(request, session, data.get("csrf"))
    cfg = gateway(request).settings.console
    await limit(request, "login", cfg.login_rpm)
    user = session.user
    console = console_of(request)
    target = _next(data.get("next"))
    left = await _second_factor(console, user, data.get("code", ""))
    if left is None:
        locked = await console.users.login_failed(
            user, lock_after=cfg.lockout_failures, lock_for=timedelta(minutes=cfg.lockout_minutes)
        )
        if locked:
            await console.users.end_sessions(user.id)
            raise redirect("/ui/login")
        return render(request, "totp.html", status=401, next=target, error=_("That code is not right."))
    token = request.cookies.get(cookie_name(request), "")
    await console.users.end_session(token)
    new, csrf = await console.users.start_session(
        user.id, ttl=session_ttl(request), ip=request.remote, user_agent=request.headers.get("user-agent"),
        mfa_pending=False,
    )  # fmt: skip
    await console.users.login_succeeded(user.id)
    if left >= 0:  # a recovery code was used: say how many are left, where new ones are made
        notice = _(
            "You signed in with a recovery code; %(left)s left. Make new ones below when few are left."
        ) % {"left": left}
        resp = flash_to(request, "/ui/settings", for_csrf=csrf, notice=notice)
    else:
        resp = go(target)
    set_session_cookie(request, resp, new)
    return resp


async def _second_factor(console: Console, user: User, code: str) -> int | None:
    """Check a TOTP code or a recovery code. None: refused; -1: a TOTP code; otherwise a
    recovery code, now used up, and the number of recovery codes left."""
    if not user.totp_secret_enc:
        return None
    secret, recovery = totp.unseal(console.box.open(user.totp_secret_enc))
    if totp.check(secret, code):
        return -1
    digest = totp.recovery_digest(code)
    if len(code) < 12 or digest not in recovery:
        return None
    left = [d for d in recovery if d != digest]
    sealed = console.box.seal(totp.sealable(secret, left))
    return len(left) if await console.users.replace_totp(user.id, user.totp_secret_enc, sealed) else None


async def logout(request: web.Request) -> web.StreamResponse:
    session = await load_session(request)
    if session is not None:  # a forged log-out form must not sign anyone out
        check_csrf(request, session, (await form(request)).get("csrf"))
    token = request.cookies.get(cookie_name(request))
    if token:
        await console_of(request).users.end_session(token)
    resp = go("/ui/login")
    clear_session_cookie(request, resp)
    return resp


# --- sign-up ---


async def signup_form(request: web.Request) -> web.StreamResponse:
    mode = gateway(request).settings.console.signup
    if mode == "closed":
        return render(request, "error.html", status=404, title=_("Sign-up is closed"),
                      message=_("Ask an administrator for an account."))  # fmt: skip
    return _page(request, "signup.html", mode=mode, error=None, errors={}, email="",
                 invite=request.query.get("invite", ""))  # fmt: skip


async def signup(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    cfg = gw.settings.console
    if cfg.signup == "closed":
        return render(request, "error.html", status=404, title=_("Sign-up is closed"),
                      message=_("Ask an administrator for an account."))  # fmt: skip
    data = await form(request)
    check_csrf(request, None, data.get("csrf"))
    await limit(request, "signup", cfg.signup_rpm)
    email = data.get("email", "").strip().lower()
    password, invite = data.get("password", ""), data.get("invite", "").strip()
    users = console_of(request).users
    errors: dict[str, str] = {}
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        errors["email"] = _("Enter a valid email address: %(reason)s") % {"reason": exc}
    errors.update(await passwords.errors(password, data.get("confirm", ""), email))
    if cfg.signup == "invite" and not await users.invite_usable(invite):
        errors["invite"] = _(INVITE_REFUSED)
    if not errors and await users.by_email(email) is not None:
        errors["email"] = _("An account with this email exists. Log in instead.")
    if not errors and cfg.signup == "invite" and not await users.use_invite(invite, None):
        errors["invite"] = _(INVITE_REFUSED)
    if errors:
        return _page(request, "signup.html", status=400, mode=cfg.signup, email=email, invite=invite,
                     errors=errors, error=_("Check the fields marked below."))  # fmt: skip
    if cfg.verify_email:  # no session and no credit until the address is confirmed
        await create_user(gw.engine, cfg, email, password, role="user", pending=True, language=current().code)
        log.info("console sign-up, waiting for the address to be confirmed: %s", email)
        _mail_later(request, email, "verify")
        return _page(request, "verify_sent.html", email=email)
    user = await create_user(gw.engine, cfg, email, password, role="user", language=current().code)
    log.info("console sign-up: %s", email)
    return await sign_in(request, user, "/ui/dashboard")


# --- password reset: a one-time link an administrator makes, or mailed on request ---


async def reset_form(request: web.Request) -> web.StreamResponse:
    return _page(request, "reset.html", token=request.match_info["token"], error=None, errors={})


async def reset(request: web.Request) -> web.StreamResponse:
    data = await _link_form(request)
    token, password = request.match_info["token"], data.get("password", "")
    errors = await passwords.errors(password, data.get("confirm", ""))
    users = console_of(request).users
    user_id = await users.use_reset(token) if not errors else None
    if errors or user_id is None:
        error = None if errors else _(RESET_REFUSED)
        return _page(request, "reset.html", status=400, token=token, error=error, errors=errors)
    await users.update(user_id, password_hash=await passwords.hash_password(password), failed_logins=0,
                       locked_until=None)  # fmt: skip
    await users.end_sessions(user_id)  # a reset signs out every browser
    await confirmed(gateway(request), users, user_id)  # the link reached them: the address is theirs
    # Every session of theirs just ended, this browser's too: the notice is for a signed-out page.
    return flash_to(request, "/ui/login", for_csrf="", notice=_("Your password is changed. Log in with it."))


async def forgot(request: web.Request) -> web.StreamResponse:
    mail = gateway(request).settings.console.smtp is not None
    return _page(request, "forgot.html", mail=mail, sent=False, error=None, email="")


async def forgot_submit(request: web.Request) -> web.StreamResponse:
    """Mail a reset link to the address if a user has it. The answer is the same either way,
    and comes before any lookup or mail (no telling who has an account, by text or timing)."""
    email = await _mail_form(request)
    if not EMAIL.match(email):
        return _page(request, "forgot.html", status=400, mail=True, sent=False, email=email,
                     error=_("Enter the email address you log in with."))  # fmt: skip
    _mail_later(request, email, "reset")
    return _page(request, "forgot.html", mail=True, sent=True, error=None, email=email)


async def _mail_form(request: web.Request) -> str:
    """The address a "mail me a link" form gives, the form checked (CSRF token, per-client
    limit); 404 where this gateway sends no mail."""
    if gateway(request).settings.console.smtp is None:
        raise web.HTTPNotFound(text=_("This gateway sends no email: ask an administrator."))
    data = await _link_form(request)
    return data.get("email", "").strip().lower()


async def _link_form(request: web.Request) -> dict[str, str]:
    """A one-time-link form (reset, confirm, mail me a link), checked: the CSRF token (before
    sign-in, or the session's) and the per-client limit on such forms (`reset_rpm`)."""
    data = await form(request)
    await load_session(request)  # its token is accepted too
    check_csrf(request, None, data.get("csrf"))
    await limit(request, "reset", gateway(request).settings.console.reset_rpm)
    return data


def _mail_later(request: web.Request, email: str, purpose: str) -> None:
    gw = gateway(request)
    work = _mail_link(gw, console_of(request).users, email, purpose)
    in_background(gw.background, work, "password reset" if purpose == "reset" else "email confirmation")


async def _mail_link(gw: Gateway, users: UserRepository, email: str, purpose: str) -> None:
    """Mail a one-time link to a user with this address: `purpose` reset (a new password) or
    verify (confirm the address; only while it is unconfirmed)."""
    cfg = gw.settings.console
    assert cfg.smtp is not None and cfg.public_url is not None
    # At most a few mails an hour to one address, whoever asks: no flooding someone's inbox.
    ok, _retry = await gw.limiter.store.bucket_take(
        f"ui:{purpose}-mail:{digest(email)}", MAILS_PER_HOUR / 3600.0, MAILS_PER_HOUR, time.time()
    )
    verify = purpose == "verify"
    user = await users.by_email(email) if ok else None
    if user is None or user.disabled or (verify and user.email_verified_at is not None):
        return
    token = await users.create_reset(user.id, ttl=VERIFY_TTL if verify else RESET_TTL, purpose=purpose)
    base = cfg.public_url.rstrip("/")
    # In the reader's saved language; else the language of the page that asked (theirs, likely).
    written = gw.mail_language(user.language) if user.language else gettext
    if verify:
        subject, body = verify_mail(base, f"{base}/ui/verify/{token}", written)
    else:
        subject, body = reset_mail(base, f"{base}/ui/reset/{token}", written)
    await send(cfg.smtp, user.email, subject, body)


# --- confirming the address of a sign-up (console.verify_email) ---


async def verify_form(request: web.Request) -> web.StreamResponse:
    """A button, not the confirmation itself: mail scanners that open links must not use them."""
    return _page(request, "verify.html", token=request.match_info["token"], error=None)


async def verify(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    await _link_form(request)
    users = console_of(request).users
    user_id = await users.use_reset(request.match_info["token"], "verify")
    user = await users.by_id(user_id) if user_id is not None else None
    if user is None or user.disabled:
        error = _("This confirmation link is not valid (unknown, used or expired). Log in to get a new one.")
        return _page(request, "verify.html", status=400, token=request.match_info["token"], error=error)
    await confirmed(gw, users, user.id)
    log.info("console sign-up confirmed: %s", user.email)
    return await sign_in(request, user, "/ui/dashboard")


async def verify_resend(request: web.Request) -> web.StreamResponse:
    """Mail a new confirmation link; the same answer whoever the address belongs to."""
    email = await _mail_form(request)
    if EMAIL.match(email):
        _mail_later(request, email, "verify")
    return _page(request, "verify_sent.html", email=email)


@signed_in
async def root(request: web.Request) -> web.StreamResponse:
    raise redirect("/ui/dashboard")
