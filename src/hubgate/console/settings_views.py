"""Settings of a signed-in person: the console language, the password, and two-factor sign-in (TOTP with a QR
code to set it up, and one-time recovery codes for a lost phone).

Every form here answers with a redirect to /ui/settings (Post/Redirect/Get); what it did
rides along in the one-time flash, so a reload shows nothing twice.
"""

from __future__ import annotations

import re

from aiohttp import web

from hubgate.admin.session import console_of
from hubgate.console import i18n, passwords, totp
from hubgate.console.i18n import N_, _
from hubgate.console.user_views import viewer
from hubgate.console.web import LANGUAGES, flash_to, form, remember_language, render, signed_in, take_flash
from hubgate.storage.secrets import SecretsUnavailable

NEEDS_KEY = N_("Two-factor sign-in needs secret_key to be set.")
WRONG_CODE = N_("That code is not right: scan the QR code again, and enter the code the app shows now.")
SECRET = re.compile(r"[A-Z2-7]{16,64}")


async def _settings(request: web.Request, status: int = 200, **context: object) -> web.Response:
    for name in ("error", "notice", "totp_secret", "totp_uri", "totp_qr", "recovery_codes"):
        context.setdefault(name, None)
    context.setdefault("errors", {})
    secret = context["totp_secret"]
    if isinstance(secret, str) and SECRET.fullmatch(secret):
        uri = totp.provisioning_uri(secret, viewer(request).user.email)
        context.update(totp_uri=uri, totp_qr=totp.qr_svg(uri))
    console = console_of(request)
    context["totp_available"] = console.box.available
    context["recovery_left"] = _recovery_left(request)
    return render(request, "settings.html", status=status, page_path="/ui/settings", **context)


def _recovery_left(request: web.Request) -> int | None:
    """How many recovery codes the viewer has left (None: two-factor sign-in is off)."""
    sealed = viewer(request).user.totp_secret_enc
    if sealed is None:
        return None
    try:
        return len(totp.unseal(console_of(request).box.open(sealed))[1])
    except SecretsUnavailable:
        return None


@signed_in
async def settings_page(request: web.Request) -> web.StreamResponse:
    said = take_flash(request)
    notice, secret, codes = said.get("notice"), said.get("totp_secret"), said.get("recovery_codes")
    return await _settings(
        request,
        notice=notice if isinstance(notice, str) else None,
        totp_secret=secret if isinstance(secret, str) else None,
        recovery_codes=[str(c) for c in codes] if isinstance(codes, list) else None,
    )


@signed_in
async def change_language(request: web.Request) -> web.StreamResponse:
    """Save the viewer's language (their pages on every device, and the mail sent to them) and
    set this browser's language cookie; the answer is in the new language."""
    code = i18n.normalize((await form(request)).get("language"))
    if code is None:
        errors = {"language": _("Choose one of the languages listed.")}
        return await _settings(request, status=400, errors=errors, error=_("Check the fields marked below."))
    await console_of(request).users.update(viewer(request).user.id, language=code)
    i18n.activate(request.app[LANGUAGES][code])
    resp = flash_to(request, "/ui/settings", notice=_("Language saved."))
    remember_language(request, resp, code)
    return resp


@signed_in
async def change_password(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    user = viewer(request).user
    # Someone who has only ever signed in through a provider has no password to give yet.
    if user.password_hash is not None and not await passwords.verify_password(
        user.password_hash, data.get("current", "")
    ):
        errors = {"current": _("The current password is not right.")}
    else:
        errors = await passwords.errors(data.get("password", ""), data.get("confirm", ""), user.email)
    if errors:
        return await _settings(request, status=400, errors=errors, error=_("Check the fields marked below."))
    new = data.get("password", "")
    users = console_of(request).users
    await users.update(user.id, password_hash=await passwords.hash_password(new))
    return flash_to(request, "/ui/settings", notice=_("Password changed."))


@signed_in
async def totp_start(request: web.Request) -> web.StreamResponse:
    if not console_of(request).box.available:
        return await _settings(request, status=400, error=_(NEEDS_KEY))
    return flash_to(request, "/ui/settings", totp_secret=totp.new_secret())


@signed_in
async def totp_enable(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    secret, code = data.get("secret", ""), data.get("code", "")
    user = viewer(request).user
    if not SECRET.fullmatch(secret) or not totp.check(secret, code):
        return await _settings(
            request, status=400, error=_("Check the field marked below."), totp_secret=secret or None,
            errors={"code": _(WRONG_CODE)},
        )  # fmt: skip
    console = console_of(request)
    codes = totp.new_recovery_codes()
    try:
        sealed = console.box.seal(totp.sealable(secret, [totp.recovery_digest(c) for c in codes]))
    except SecretsUnavailable:
        return await _settings(request, status=400, error=_(NEEDS_KEY))
    await console.users.update(user.id, totp_secret_enc=sealed)
    return flash_to(request, "/ui/settings", notice=_("Two-factor sign-in is on."), recovery_codes=codes)


@signed_in
async def totp_recovery(request: web.Request) -> web.StreamResponse:
    """New recovery codes, the old ones void (asks for the password)."""
    data = await form(request)
    user = viewer(request).user
    console = console_of(request)
    if user.totp_secret_enc is None:
        return await _settings(request, status=400, error=_("Two-factor sign-in is off."))
    if not await passwords.verify_password(user.password_hash, data.get("current", "")):
        errors = {"recovery_current": _("The current password is not right.")}
        return await _settings(request, status=400, error=_("Check the field marked below."), errors=errors)
    secret, _codes = totp.unseal(console.box.open(user.totp_secret_enc))
    codes = totp.new_recovery_codes()
    sealed = console.box.seal(totp.sealable(secret, [totp.recovery_digest(c) for c in codes]))
    if not await console.users.replace_totp(user.id, user.totp_secret_enc, sealed):
        return await _settings(
            request, status=409, error=_("Two-factor sign-in changed meanwhile: try again.")
        )
    notice = _("New recovery codes made; the old ones no longer work.")
    return flash_to(request, "/ui/settings", notice=notice, recovery_codes=codes)


@signed_in
async def totp_disable(request: web.Request) -> web.StreamResponse:
    data = await form(request)
    user = viewer(request).user
    if not await passwords.verify_password(user.password_hash, data.get("current", "")):
        errors = {"disable_current": _("The current password is not right.")}
        return await _settings(request, status=400, error=_("Check the field marked below."), errors=errors)
    await console_of(request).users.update(user.id, totp_secret_enc=None)
    return flash_to(request, "/ui/settings", notice=_("Two-factor sign-in is off."))
