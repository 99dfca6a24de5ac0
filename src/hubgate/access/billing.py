"""Budgets, balances and charges on the hot path.

The database owns the counters (moved by the usage writer, in the same transaction
as the usage rows). Before a request goes upstream its maximum cost is held against the
key's budget and the account's balance (`place`, refused with 402 when it does not fit);
`charge` prices the finished request and settles its hold to that cost (0 releases it),
which stays counted until the usage flush puts it in the counters (`settle`). Holds live
in one of three backends (access/): in memory, in Redis, or in leases from the database.
`pending` keeps this process's unflushed costs for the dashboard routes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

from hubgate.access.account_cache import AccountCache
from hubgate.access.holds import ACCOUNT, KEY, BaseCache, Flushed, HoldBackend, LocalHolds, Subject, book_name
from hubgate.errors import PaymentRequired, PermissionDenied
from hubgate.metering.budget import counted_spend
from hubgate.metering.cost import ONE, HoldPlan, bound_micros, counts_micros
from hubgate.metering.hold import Ceiling
from hubgate.metering.price import ZERO
from hubgate.metering.prices import DEFAULT_MAX_OUTPUT_TOKENS, Price, lookup, lookup_video, max_output_tokens
from hubgate.storage.accounts import AccountRecord
from hubgate.storage.keys import KeyRecord, KeyRepository, utcnow
from hubgate.storage.usage import UsageRow

log = logging.getLogger("hubgate.access.billing")


PRICE_CACHE_SIZE = 4096  # model names whose price lookup is remembered
SUBJECTS_CACHE_SIZE = 100_000  # (key, budget, account) combinations whose subjects are remembered
PLAN_CACHE_SIZE = 100_000  # (models, key, account) combinations whose hold formula is remembered


_UNPLANNED = HoldPlan(0, 0, 0, 1, 0, None)  # tiered prices: sized by the general path


class Billing:
    def __init__(
        self,
        accounts: AccountCache,
        *,
        default_account_id: int,
        prices: Mapping[str, Price],
        groups: Mapping[str, Decimal],
        keys: KeyRepository | None = None,
        holds: HoldBackend | None = None,
        hold_ttl_s: float = 900.0,
        max_request_cost_micros: int | None = None,
        base_ttl_s: float = 30.0,
    ) -> None:
        self.accounts = accounts
        self.default_account_id = default_account_id
        self._prices = dict(prices)
        # Each model name's price as `lookup` finds it (name normalisation is per-request
        # string work otherwise); emptied when a price changes, bounded against odd names.
        self._price_of: dict[str, Price | None] = {}
        self._groups = {name: _one(m) for name, m in groups.items()}
        self._keys = keys
        self.hold_ttl_s = hold_ttl_s
        self.max_request_cost_micros = max_request_cost_micros
        self.bases = BaseCache(self.read_base, base_ttl_s)
        accounts.on_invalidate = self._balances_moved
        self.backend: HoldBackend = holds if holds is not None else LocalHolds(self.bases)
        self.pending_keys: dict[int, int] = defaultdict(int)
        self.pending_accounts: dict[int, int] = defaultdict(int)
        self._open: dict[str, tuple[Subject, ...]] = {}  # refs held here, not yet settled
        self._tasks: dict[str, tuple[Subject, ...]] = {}  # long-running work (video tasks) held here
        self._unpriced: set[str] = set()
        # Each (models, key, account) hold's token formula (see hold_size): the price lookup,
        # multiplier and caps done once; emptied when a price or a group changes.
        self._plans: dict[tuple[object, ...], HoldPlan | None] = {}
        self._subjects: dict[tuple[int, int | None, str | None, int | None], tuple[Subject, ...]] = {}

    def set_group(self, name: str, multiplier: Decimal) -> None:
        """Price the group's accounts with `multiplier` from the next request on (admin API)."""
        self._groups[name] = _one(multiplier)
        self._plans.clear()

    def set_price(self, model: str, price: Price) -> None:
        """Charge `model` at `price` from the next request on; wins over built-in and config prices."""
        self._prices[model] = price
        self._price_of.clear()
        self._plans.clear()

    def account_id(self, key: KeyRecord) -> int:
        return key.account_id if key.account_id is not None else self.default_account_id

    async def admit(self, key: KeyRecord) -> AccountRecord | None:
        """Refuse a request whose key budget or account balance is spent (402)."""
        if key.budget_micros is not None:
            spent = key.spent_micros
            if key.budget_period is not None:  # the clock only matters for a period's budget
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
                try:
                    price = self._price_of[model]
                except KeyError:
                    if len(self._price_of) >= PRICE_CACHE_SIZE:
                        self._price_of.clear()
                    price = self._price_of[model] = lookup(model, self._prices)
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
        """Price a finished request's usage onto its row and settle its hold to that cost
        (the actual cost, even above the hold; 0 releases it) until the flush.
        `price` is the model's (looked up by name) unless given (a video's size decides it)."""
        row.account_id = account.id if account is not None else self.account_id(key)
        row.cost_micros = self.quote(row, key, account, price)
        if row.cost_micros:
            self.pending_keys[key.id] += row.cost_micros
            self.pending_accounts[row.account_id] += row.cost_micros
        subjects = self._open.pop(row.request_id, None) or self._tasks.pop(row.request_id, None)
        if subjects is None:  # held elsewhere (another replica's task) or not at all
            if not row.cost_micros:
                return
            subjects = self.subjects(key, account)
        if subjects:
            self.backend.settle(row.request_id, subjects, row.cost_micros, self.hold_ttl_s)

    def quote(
        self, row: UsageRow, key: KeyRecord, account: AccountRecord | None, price: Price | None = None
    ) -> int:
        """What the row's usage costs this key, in micro-dollars (0 when unpriced); no side effects."""
        if row.prompt_tokens + row.completion_tokens == 0 and row.units == 0:
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
        multiplier = self._multiplier(key, account)
        if row.units and price.per_request:
            return _per_units(price, row.units, multiplier)
        return counts_micros(
            price,
            row.prompt_tokens,
            row.completion_tokens,
            row.cached_tokens,
            row.cache_write_tokens,
            row.cache_write_1h_tokens,
            row.reasoning_tokens,
            multiplier,
        )

    def _multiplier(self, key: KeyRecord, account: AccountRecord | None) -> Decimal:
        multiplier = self._groups.get(account.group, ONE) if account is not None else ONE
        if key.price_multiplier is not None:
            multiplier *= key.price_multiplier
        return multiplier

    def hold_size(
        self,
        ceiling: Ceiling,
        key: KeyRecord,
        account: AccountRecord | None,
        *models: str | None,
        price: Price | None = None,
    ) -> int:
        """What a request of at most `ceiling` costs this key at the first priced of `models`
        (0 when none is priced). No output cap named: the model's maximum output, then
        `max_request_cost_usd` caps the hold."""
        if price is None and not ceiling.units:  # a token-priced request: its plan, made once
            plan = self._plan_of(key, account, models)
            if plan is not _UNPLANNED:
                return plan.micros(ceiling) if plan is not None else 0
        return self._hold_size(ceiling, key, account, models, price)

    def token_hold(
        self,
        prompt: int,
        named: int | None,
        key: KeyRecord,
        account: AccountRecord | None,
        *models: str | None,
    ) -> int:
        """`hold_size(Ceiling(prompt, named), key, account, *models)` without making the
        Ceiling: a text request's hold (relay/holds.py), the common case."""
        plan = self._plan_of(key, account, models)
        if plan is _UNPLANNED:
            return self._hold_size(Ceiling(prompt, named), key, account, models, None)
        return plan.tokens(prompt, named) if plan is not None else 0

    def _plan_of(
        self, key: KeyRecord, account: AccountRecord | None, models: tuple[str | None, ...]
    ) -> HoldPlan | None:
        held = None if account is None else (account.group, account.max_request_cost_micros)
        memo = (models, key.price_multiplier, key.max_request_cost_micros, held)
        plan = self._plans.get(memo)
        if plan is None:
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = self._plans[memo] = self._plan(key, account, models)
        return plan

    def _plan(
        self, key: KeyRecord, account: AccountRecord | None, models: tuple[str | None, ...]
    ) -> HoldPlan | None:
        """The token-priced hold of `models` for this key as one formula; None when unpriced,
        _UNPLANNED when the price has tiers (the prompt picks the rates)."""
        price = self.price_for(*models)
        if price is None:
            return None
        if price.tiers:
            return _UNPLANNED
        return HoldPlan.of(
            price,
            self._multiplier(key, account),
            self._default_output(models),
            self.request_cap(key, account),
        )

    @staticmethod
    def _default_output(models: tuple[str | None, ...]) -> int:
        known = (max_output_tokens(m) for m in models if m)
        return next((n for n in known if n is not None), DEFAULT_MAX_OUTPUT_TOKENS)

    def _hold_size(
        self,
        ceiling: Ceiling,
        key: KeyRecord,
        account: AccountRecord | None,
        models: tuple[str | None, ...],
        price: Price | None,
    ) -> int:
        price = price if price is not None else self.price_for(*models)
        if price is None:
            return 0
        completion = ceiling.completion_tokens
        if completion is None:
            completion = self._default_output(models)
        thinking = price.output_thinking is not None and price.output_thinking > price.output
        units = ceiling.units if price.per_request else 0
        if units:
            micros = _per_units(price, units, self._multiplier(key, account))
        elif ceiling.prompt_tokens + completion == 0:
            micros = 0
        else:  # what _cost would find for that usage, without building it
            micros = bound_micros(
                price, ceiling.prompt_tokens, completion, thinking, self._multiplier(key, account)
            )
        cap = self.request_cap(key, account)
        if ceiling.completion_tokens is None and cap is not None:
            micros = min(micros, cap)
        return micros

    def request_cap(self, key: KeyRecord, account: AccountRecord | None) -> int | None:
        """`max_request_cost_usd`: the key's, else its account's, else the global setting."""
        if key.max_request_cost_micros is not None:
            return key.max_request_cost_micros
        if account is not None and account.max_request_cost_micros is not None:
            return account.max_request_cost_micros
        return self.max_request_cost_micros

    def subjects(self, key: KeyRecord, account: AccountRecord | None) -> tuple[Subject, ...]:
        """The limits a request of `key` is held against: its account's balance, its budget.
        Remembered by what decides them (Subjects are immutable), so a request makes none."""
        held = account.id if account is not None and account.limited else None
        memo = (key.id, key.budget_micros, key.budget_period, held)
        found = self._subjects.get(memo)
        if found is None:
            made: list[Subject] = []
            if held is not None:
                made.append(Subject(ACCOUNT, held))
            if key.budget_micros is not None:
                made.append(Subject(KEY, key.id, key.budget_micros, key.budget_period))
            if len(self._subjects) >= SUBJECTS_CACHE_SIZE:
                self._subjects.clear()
            found = self._subjects[memo] = tuple(made)
        return found

    async def read_base(self, subject: Subject) -> int:
        """An account's balance, or a key's spend that counts against its budget, as stored."""
        if subject.kind == ACCOUNT:
            account = await self.accounts.repo.by_id(subject.id)
            return account.balance_micros if account is not None else 0
        record = await self._keys.by_id(subject.id) if self._keys is not None else None
        if record is None:
            return subject.limit or 0
        return counted_spend(
            lifetime=record.spent_micros,
            period=record.budget_period,
            period_spent=record.period_spent_micros,
            period_started=record.period_started_at,
            now=utcnow(),
        )

    async def place(
        self,
        ref: str,
        key: KeyRecord,
        account: AccountRecord | None,
        micros: int,
        *,
        ttl_s: float | None = None,
        subjects: tuple[Subject, ...] | None = None,
    ) -> None:
        """Hold `micros` (a request's maximum cost) against the key's budget and the account's
        balance until `charge` settles it; 402 when either cannot cover it. `subjects`:
        `self.subjects(key, account)` when the caller has them already."""
        if subjects is None:
            subjects = self.subjects(key, account)
        if not subjects:
            return
        if micros:  # before any await: a request cancelled meanwhile still releases what was held
            self._open[ref] = subjects
        if self.backend.place_now(ref, subjects, micros):  # most requests: a cached base or a lease with room
            return
        refused = await self.backend.place(ref, subjects, micros, ttl_s or self.hold_ttl_s)
        if refused is None:
            return
        self._open.pop(ref, None)
        cost = f" (it may cost up to ${Decimal(micros) / 1_000_000:f})" if micros else ""
        if refused.kind == KEY:
            raise PaymentRequired(
                f"This API key's remaining budget cannot cover this request{cost}; "
                "lower max_tokens or raise the budget."
            )
        raise PaymentRequired(
            f"The account's balance cannot cover this request{cost}; top it up or lower max_tokens."
        )

    def keep(self, ref: str, task: str, micros: int, ttl_s: float) -> None:
        """Carry the hold of request `ref` over to long-running work `task` (a video task) at
        `micros`, until `charge` (of a row whose request_id is `task`) or `release(task)`."""
        subjects = self._open.pop(ref, ())
        self._tasks[task] = subjects  # listed in `holds` even when nothing limits the key
        if subjects:
            self.backend.settle(task, subjects, micros, ttl_s)  # the new hold first: no gap
            self.backend.settle(ref, subjects, 0, ttl_s)

    def release(self, ref: str, key_id: int | None = None, account_id: int | None = None) -> None:
        """Drop a hold (the work failed: nothing is charged). `key_id`/`account_id` name its
        subjects when another replica placed it."""
        subjects = self._open.pop(ref, None) or self._tasks.pop(ref, None)
        if subjects is None:
            named = [Subject(ACCOUNT, account_id)] if account_id is not None else []
            subjects = (*named, *([Subject(KEY, key_id)] if key_id is not None else []))
        if subjects:
            self.backend.settle(ref, subjects, 0, self.hold_ttl_s)

    def forget(self, ref: str) -> None:
        """Another replica finished `ref` and settled it: drop what this process holds for it."""
        subjects = self._tasks.pop(ref, None)
        if subjects and not self.backend.shared:
            self.backend.settle(ref, subjects, 0, self.hold_ttl_s)

    def _balances_moved(self, account_ids: Iterable[int] | None) -> None:
        """A credit here (a redeemed code, a sign-up's gift): read the balance again."""
        if account_ids is None:
            self.bases.clear()
        else:
            self.bases.drop(Subject(ACCOUNT, a).name for a in account_ids)

    async def balance_changed(self, account_id: int) -> None:
        """An admin credit or debit moved the balance: every replica reads it again."""
        self.accounts.invalidate([account_id])
        self.bases.drop([Subject(ACCOUNT, account_id).name])
        await self.backend.changed(Subject(ACCOUNT, account_id))

    @property
    def holds(self) -> list[str]:
        """The long-running work (video tasks) held in this process."""
        return list(self._tasks)

    def settle(self, batch: list[UsageRow]) -> dict[int, int]:
        """The batch is in the database now: its costs leave `pending` and the hold books,
        and the cached accounts move by what the flush moved (no read per flush). Summed per
        key and per account first: `pending` moves once per subject, not per row. Returns
        what the flush added to each key's spend (0: a quarantined row's key, to read again)."""
        keys: dict[int, int] = {}
        accounts: dict[int, int] = {}
        named: dict[tuple[int | None, int | None], tuple[str, ...]] = {}  # a batch has few pairs
        flushed: list[Flushed] = []
        refused: list[UsageRow] = []
        for row in batch:
            cost = row.cost_micros
            if not cost:
                continue
            key_id, account_id = row.key_id, row.account_id
            if row.quarantined:
                refused.append(row)
            if key_id is not None:
                keys[key_id] = keys.get(key_id, 0) + cost
            if account_id is not None:
                accounts[account_id] = accounts.get(account_id, 0) + cost
            names = named.get((key_id, account_id))
            if names is None:
                names = named[(key_id, account_id)] = (
                    *((book_name(KEY, key_id),) if key_id is not None else ()),
                    *((book_name(ACCOUNT, account_id),) if account_id is not None else ()),
                )
            flushed.append(Flushed(row.request_id, names, cost, not row.quarantined))
        for key_id, total in keys.items():
            self._release(self.pending_keys, key_id, total)
        for account_id, total in accounts.items():
            self._release(self.pending_accounts, account_id, total)
        for row in refused:  # its cost never reached the counters: read those again
            if row.key_id is not None:
                keys[row.key_id] = 0
            if row.account_id is not None:
                accounts[row.account_id] = 0
        self.accounts.spent(accounts)
        if flushed:
            self.backend.flushed(flushed)
        self.bases.flushed()
        return keys

    def flushing(self) -> None:
        """A usage flush is about to commit: what the caches read from now on may count it."""
        self.accounts.flushing()
        self.bases.flushing()

    @staticmethod
    def _release(pending: dict[int, int], ident: int, amount: int) -> None:
        left = pending.get(ident, 0) - amount
        if left > 0:
            pending[ident] = left
        else:
            pending.pop(ident, None)


def _per_units(price: Price, units: int, multiplier: Decimal) -> int:
    """Answers counted in units (images, audio seconds): `per_request` prices one unit."""
    return counts_micros(
        Price(input=ZERO, per_request=price.per_request * units), 0, 0, multiplier=multiplier
    )


def _one(multiplier: Decimal) -> Decimal:
    """A multiplier of 1 as the ONE constant, which pricing recognises without arithmetic."""
    return ONE if multiplier.is_finite() and multiplier == ONE else multiplier
