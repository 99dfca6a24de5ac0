"""Budgets, balances and charges on the hot path, served from memory.

The database owns the counters (moved by the usage writer, in the same transaction
as the usage rows). Between a request's end and the flush of its row, its cost sits
in `pending` here, so budget and balance checks see it at once; a flush settles it
and drops the cached key and account so the next check reads the new totals.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from hubgate.errors import PaymentRequired, PermissionDenied
from hubgate.formats.hub import Usage
from hubgate.metering.budget import counted_spend
from hubgate.metering.cost import cost_micros
from hubgate.metering.price import ZERO
from hubgate.metering.prices import Price, lookup, lookup_video
from hubgate.steady import read_steady
from hubgate.storage.accounts import AccountRecord, AccountRepository
from hubgate.storage.keys import KeyRecord, utcnow
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.billing")


class AccountCache:
    def __init__(self, repo: AccountRepository, ttl_s: float = 30.0) -> None:
        self._repo = repo
        self._ttl = ttl_s
        self._entries: dict[int, tuple[AccountRecord, float]] = {}
        self._generation = 0

    async def get(self, account_id: int) -> AccountRecord | None:
        hit = self._entries.get(account_id)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        # A flush that landed while we read may have moved the balance: read again.
        record, steady = await read_steady(lambda: self._repo.by_id(account_id), lambda: self._generation)
        if record is not None and steady:
            self._entries[account_id] = (record, time.monotonic() + self._ttl)
        return record

    def invalidate(self, account_ids: object = None) -> None:
        self._generation += 1
        if account_ids is None:
            self._entries.clear()
        else:
            for account_id in account_ids:  # type: ignore[attr-defined]
                self._entries.pop(account_id, None)


class Billing:
    def __init__(
        self,
        accounts: AccountCache,
        *,
        default_account_id: int,
        prices: Mapping[str, Price],
        groups: Mapping[str, Decimal],
    ) -> None:
        self.accounts = accounts
        self.default_account_id = default_account_id
        self._prices = dict(prices)
        self._groups = dict(groups)
        self.pending_keys: dict[int, int] = defaultdict(int)
        self.pending_accounts: dict[int, int] = defaultdict(int)
        self._holds: dict[str, tuple[int, int, int]] = {}  # ref -> key id, account id, micro-dollars
        self._unpriced: set[str] = set()

    def set_group(self, name: str, multiplier: Decimal) -> None:
        """Price the group's accounts with `multiplier` from the next request on (admin API)."""
        self._groups[name] = multiplier

    def set_price(self, model: str, price: Price) -> None:
        """Charge `model` at `price` from the next request on; wins over built-in and config prices."""
        self._prices[model] = price

    def account_id(self, key: KeyRecord) -> int:
        return key.account_id if key.account_id is not None else self.default_account_id

    async def admit(self, key: KeyRecord) -> AccountRecord | None:
        """Refuse a request whose key budget or account balance is spent (402)."""
        if key.budget_micros is not None:
            spent = counted_spend(
                lifetime=key.spent_micros,
                period=key.budget_period,
                period_spent=key.period_spent_micros,
                period_started=key.period_started_at,
                now=utcnow(),
            )
            if spent + self.pending_keys.get(key.id, 0) >= key.budget_micros:
                raise PaymentRequired("This API key has spent its budget.")
        account = await self.accounts.get(self.account_id(key))
        if account is None:
            return None
        if account.disabled:
            raise PermissionDenied("This account is disabled.", code="account_disabled")
        if account.limited and account.balance_micros - self.pending_accounts.get(account.id, 0) <= 0:
            raise PaymentRequired("The account's balance is spent; top it up to continue.")
        return account

    def price_for(self, *models: str | None) -> Price | None:
        for model in models:
            if model:
                price = lookup(model, self._prices)
                if price is not None:
                    return price
        return None

    def video_price(self, size: str | None, *models: str | None) -> Price | None:
        """A second of video at `size` (`per_request` is USD per second); see `lookup_video`."""
        for model in models:
            if model and (price := lookup_video(model, size, self._prices)) is not None:
                return price
        return None

    def charge(
        self, row: UsageRow, key: KeyRecord, account: AccountRecord | None, price: Price | None = None
    ) -> None:
        """Price a finished request's usage onto its row and hold it until the flush.
        `price` is the model's (looked up by name) unless given (a video's size decides it)."""
        row.account_id = account.id if account is not None else self.account_id(key)
        row.cost_micros = self.quote(row, key, account, price)
        if row.cost_micros:
            self.pending_keys[key.id] += row.cost_micros
            self.pending_accounts[row.account_id] += row.cost_micros

    def quote(
        self, row: UsageRow, key: KeyRecord, account: AccountRecord | None, price: Price | None = None
    ) -> int:
        """What the row's usage costs this key, in micro-dollars (0 when unpriced); no side effects."""
        usage = Usage(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cached_tokens=row.cached_tokens,
            cache_write_tokens=row.cache_write_tokens,
            cache_write_1h_tokens=row.cache_write_1h_tokens,
            reasoning_tokens=row.reasoning_tokens,
        )
        if usage.total_tokens == 0 and row.units == 0:
            return 0
        price = price if price is not None else self.price_for(row.upstream_model, row.model)
        if price is None:
            name = row.upstream_model or row.model or "?"
            if name not in self._unpriced:
                self._unpriced.add(name)
                log.warning(
                    "no price for model %r; its usage is logged at cost 0 (add it under pricing:)", name
                )
            return 0
        multiplier = self._groups.get(account.group, Decimal(1)) if account is not None else Decimal(1)
        if key.price_multiplier is not None:
            multiplier *= key.price_multiplier
        if row.units and price.per_request:
            # Answers counted in units (images, audio seconds): per_request prices one unit.
            usage, price = Usage(), Price(input=ZERO, per_request=price.per_request * row.units)
        return cost_micros(
            usage, price, multiplier=multiplier, cache_write_1h_tokens=usage.cache_write_1h_tokens
        )

    def hold(self, ref: str, key_id: int, account_id: int, micros: int) -> None:
        """Count `micros` as spent by the key and account until `release(ref)`: the expected
        cost of work still running upstream (a video task), so budgets see it at once."""
        if micros <= 0 or ref in self._holds:
            return
        self._holds[ref] = (key_id, account_id, micros)
        self.pending_keys[key_id] += micros
        self.pending_accounts[account_id] += micros

    def release(self, ref: str) -> None:
        """Drop a hold (the work finished: charged for what it was, or not at all)."""
        held = self._holds.pop(ref, None)
        if held is not None:
            key_id, account_id, micros = held
            self._release(self.pending_keys, key_id, micros)
            self._release(self.pending_accounts, account_id, micros)

    @property
    def holds(self) -> list[str]:
        """The refs held in this process."""
        return list(self._holds)

    def settle(self, batch: list[UsageRow]) -> tuple[set[int], set[int]]:
        """The batch is in the database now: its costs leave `pending`."""
        keys: set[int] = set()
        accounts: set[int] = set()
        for row in batch:
            if not row.cost_micros:
                continue
            if row.key_id is not None:
                keys.add(row.key_id)
                self._release(self.pending_keys, row.key_id, row.cost_micros)
            if row.account_id is not None:
                accounts.add(row.account_id)
                self._release(self.pending_accounts, row.account_id, row.cost_micros)
        self.accounts.invalidate(accounts)
        return keys, accounts

    @staticmethod
    def _release(pending: dict[int, int], ident: int, amount: int) -> None:
        left = pending.get(ident, 0) - amount
        if left > 0:
            pending[ident] = left
        else:
            pending.pop(ident, None)
