"""Password hashing for console sign-in: argon2id, run off the event loop; and the
strength a new password must have, estimated by zxcvbn (dictionaries, common passwords,
keyboard patterns, dates, the person's own email).

Hashing is deliberately slow (tens of milliseconds), and estimating takes milliseconds, so
both go to a worker thread; the event loop keeps serving API traffic meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hubgate.console.i18n import N_, _

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn's 0..4: 3 is "safely unguessable: moderate protection from offline attacks"
ESTIMATED_CHARS = 72  # zxcvbn refuses longer input; the first 72 characters must be strong enough

_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters


@functools.cache
def _dummy() -> str:
    """Verified when the email is unknown, so a miss costs as much time as a wrong password.
    Made at the first such miss, not at import: an argon2id hash takes 64 MiB for a moment,
    and every worker process would take it at start for a sign-in that may never come."""
    return _hasher.hash("hubgate-timing-equaliser")


async def problem(password: str, user_inputs: Sequence[str] = ()) -> str | None:
    """Why a new password is refused, or None (estimated in a worker thread). `user_inputs`:
    words of the person's own (their email address) that make a password easy to guess."""
    return await asyncio.to_thread(check, password, user_inputs)


def check(password: str, user_inputs: Sequence[str] = ()) -> str | None:
    """`problem`, for callers off the event loop (the CLI)."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(num)s characters.") % {"num": MIN_LENGTH}
    if len(password) > MAX_LENGTH:
        return _("Use at most %(num)s characters.") % {"num": MAX_LENGTH}
    return _weakness(password[:ESTIMATED_CHARS], list(user_inputs))


def _weakness(password: str, user_inputs: list[str]) -> str | None:
    # Imported at the first check (in a worker thread): its dictionaries take ~15 MB in each
    # worker process, and only sign-up and password changes need them.
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # the package ships no types

    found = zxcvbn(password, user_inputs=user_inputs)
    if found["score"] >= MIN_SCORE:
        return None
    feedback = found.get("feedback") or {}
    advice = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    advice = [
        _(a) if a.endswith(".") else _(a) + _(".") for a in advice if a
    ]  # zxcvbn's own, in the catalogue too
    if not advice:
        advice = [_("Add another word or two. Uncommon words are better.")]
    return " ".join([_("This password is too easy to guess."), *advice])


# zxcvbn's own advice (English in the package), listed for the catalogue so it is translated too.
ZXCVBN_ADVICE = (
    N_("Use a few words, avoid common phrases."),
    N_("No need for symbols, digits, or uppercase letters."),
    N_("Straight rows of keys are easy to guess."),
    N_("Short keyboard patterns are easy to guess."),
    N_("Use a longer keyboard pattern with more turns."),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("Avoid repeated words and characters."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_("Avoid sequences."),
    N_("Recent years are easy to guess."),
    N_("Avoid recent years."),
    N_("Avoid years that are associated with you."),
    N_("Dates are often easy to guess."),
    N_("Avoid dates and years that are associated with you."),
    N_("This is a top-10 common password."),
    N_("This is a top-100 common password."),
    N_("This is a very common password."),
    N_("This is similar to a commonly used password."),
    N_("A word by itself is easy to guess."),
    N_("Names and surnames by themselves are easy to guess."),
    N_("Common names and surnames are easy to guess."),
    N_("Capitalization doesn't help very much."),
    N_("All-uppercase is almost as easy to guess as all-lowercase."),
    N_("Reversed words aren't much harder to guess."),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
)


def own_words(email: str) -> list[str]:
    """The parts of an email address a guesser would try first."""
    local, _at, domain = email.lower().partition("@")
    return [w for w in {email.lower(), local, *domain.split(".")} if w]


async def errors(password: str, confirm: str, email: str = "") -> dict[str, str]:
    """A new password's problems by field: too weak (`password`), or not repeated (`confirm`)."""
    why = await problem(password, own_words(email) if email else ())
    if why is not None:
        return {"password": why}
    return {} if password == confirm else {"confirm": _("The two passwords differ.")}


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _dummy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored, password)
