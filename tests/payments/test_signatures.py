"""The pure signing and verifying, against the fakes' independent implementations."""

from __future__ import annotations

import pytest

from hubgate.payments import epay, stripe
from tests.fakes.epay_fake import md5_sign
from tests.fakes.stripe_fake import stripe_signature

SECRET = "whsec_test_0123456789"
BODY = b'{"id": "evt_1", "type": "checkout.session.completed"}'


def test_stripe_accepts_any_matching_v1_of_several_and_ignores_other_schemes() -> None:
    good = stripe_signature(SECRET, 1_700_000_000, BODY).split(",")[1]
    header = f"t=1700000000,v1={'0' * 64},{good},v0=deadbeef"
    stripe.verify_signature(BODY, header, SECRET, now=1_700_000_100)  # rotated secrets: one matches


@pytest.mark.parametrize(
    ("header", "now", "problem"),
    [
        (None, 1_700_000_000, "missing"),
        ("v1=abc", 1_700_000_000, "no timestamp"),
        ("t=x,v1=abc", 1_700_000_000, "malformed"),
        (stripe_signature("whsec_other_0123456789", 1_700_000_000, BODY), 1_700_000_000, "matches"),
        (stripe_signature(SECRET, 1_700_000_000, BODY), 1_700_000_301, "tolerance"),
    ],
)
def test_stripe_refuses(header: str | None, now: int, problem: str) -> None:
    with pytest.raises(stripe.SignatureError, match=problem):
        stripe.verify_signature(BODY, header, SECRET, now=now)


def test_epay_sign_skips_empty_values_and_the_signature_fields() -> None:
    params = {"pid": "1001", "type": "alipay", "out_trade_no": "hgp1", "money": "73.00", "name": "credit",
              "notify_url": "http://127.0.0.1/n", "return_url": "", "sign_type": "MD5"}  # fmt: skip
    assert epay.sign(params, "key") == md5_sign(params, "key")
    assert epay.sign(params, "key") == epay.sign(
        {k: v for k, v in params.items() if v and k != "sign_type"}, "key"
    )
    signed = {**params, "sign": epay.sign(params, "key")}
    assert epay.verify(signed, "key") and not epay.verify(signed, "other")
    assert not epay.verify({**signed, "money": "0.01"}, "key") and not epay.verify(params, "key")
