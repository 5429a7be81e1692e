"""``db.protection``: the rules of one instance (and the global rules of its database), and the verdict.

Global rules belong to the database, not to the instance that added them: every instance of this
process on the same database (same dialect, host, port and database or file) obeys them while the
instance that added them is open. Connection rules and the other levels belong to their instance.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from dataflow.errors import DataFlowError, did_you_mean

from dataflow_protect.rules import Rule, RuleContext, WriteIntent, invalid, make_rule

__all__ = ["ProtectionManager", "database_key"]

Confirm = Callable[[str], Awaitable[bool]]
"""``await confirm(field)``: whether the write really changes ``field`` in a stored row."""

_managers: weakref.WeakSet[ProtectionManager] = weakref.WeakSet()
_global_version = itertools.count(1)
_current_global = [0]


def _bump_global() -> None:
    _current_global[0] = next(_global_version)


def database_key(db: Any) -> str:
    """What identifies the database an instance works on (never its password)."""
    url = db.url
    database = url.database
    if db.dialect.name == "sqlite":
        database = f":memory:{id(db)}" if database in ("", ":memory:") else os.path.realpath(database)
    return f"{db.dialect.name}://{url.host or ''}:{url.port or ''}/{database}"


class ProtectionManager:
    """The write-protection rules of one DataFlow instance (``db.protection``).

    ``add_rule(level=..., ...)`` (or a dict), ``remove_rule(rule_or_id)``, ``list_rules()``,
    ``clear()``. Rules take effect at once, for every node and ``db.connection()`` write.
    """

    def __init__(self, db: Any, rules: Iterable[Any] = ()) -> None:
        self._db = weakref.ref(db)
        self.key = database_key(db)
        self._rules: list[Rule] = []
        self._cache: tuple[tuple[int, int, int], tuple[Rule, ...]] | None = None
        self._by_write: tuple[tuple[Rule, ...], dict[tuple[str | None, str], tuple[Rule, ...]]] = ((), {})
        """The rules covering each (model, operation), most specific level first, for one ``effective()``."""
        self._version = 0
        self._closed = False
        _managers.add(self)
        for index, raw in enumerate(rules):
            self._add(make_rule(raw, f"write_protection[{index}]"))

    # ---- the rules ------------------------------------------------------------------------------
    def add_rule(self, rule: Mapping[str, Any] | Rule | None = None, /, **fields: Any) -> Rule:
        """Add a rule, given as a dict or as keyword arguments (``add_rule(level="model", model="Invoice",
        read_only=True)``); returns it (its ``id`` removes it)."""
        if rule is not None and fields:
            raise invalid("add_rule takes a rule dict or keyword arguments, not both.")
        made = rule if isinstance(rule, Rule) else make_rule(rule if rule is not None else fields, "add_rule")
        self._add(made)
        return made

    def _add(self, rule: Rule) -> None:
        self._rules.append(rule)
        self._changed(rule)

    def remove_rule(self, rule: Rule | int) -> Rule:
        """Remove a rule by its id (or the Rule itself); DF-411 when this instance has no such rule."""
        wanted = rule.id if isinstance(rule, Rule) else rule
        for index, held in enumerate(self._rules):
            if held.id == wanted:
                del self._rules[index]
                self._changed(held)
                return held
        known = ", ".join(f"#{r.id}" for r in self._rules) or "none"
        raise invalid(f"No protection rule {wanted!r} on this instance (its rules: {known}).", rule=str(wanted))

    def clear(self) -> None:
        """Remove every rule of this instance."""
        had_global = any(r.level == "global" for r in self._rules)
        self._rules.clear()
        self._version += 1
        if had_global:
            _bump_global()

    @property
    def rules(self) -> tuple[Rule, ...]:
        """This instance's own rules, in the order they were added."""
        return tuple(self._rules)

    def list_rules(self) -> list[dict[str, Any]]:
        """This instance's rules as dicts (each with its ``id``), in the order they were added."""
        return [rule.as_dict() for rule in self._rules]

    def close(self) -> None:
        """The instance closes: its global rules stop protecting the database's other instances."""
        self._closed = True
        _managers.discard(self)
        if any(r.level == "global" for r in self._rules):
            _bump_global()

    def _changed(self, rule: Rule) -> None:
        self._version += 1
        if rule.level == "global":
            _bump_global()

    def effective(self) -> tuple[Rule, ...]:
        """Every rule that applies to this instance's writes: its own, and the global rules other open
        instances hold for the same database. Model and field names are checked against the models."""
        db = self._db()
        models = db.models if db is not None else {}
        stamp = (self._version, _current_global[0], len(models))
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        for rule in self._rules:
            _check_names(rule, models)
        foreign = [r for m in list(_managers) if m is not self and m.key == self.key and not m._closed
                   for r in m._rules if r.level == "global"]
        found = (*self._rules, *foreign)
        self._cache = (stamp, found)
        return found

    @property
    def active(self) -> bool:
        """Whether any rule applies to this instance."""
        return bool(self.effective())

    # ---- the verdict ------------------------------------------------------------------------------
    async def check(self, intent: WriteIntent, confirm: Confirm | None = None) -> None:
        """Raise DF-716 when the rules refuse ``intent``; ``confirm(field)`` tells whether the write
        really changes an immutable field (without it, a field rule refuses any write naming its field)."""
        fields = intent.fields
        matching = [rule for rule in self._covering(intent.model, intent.operation) if rule.covers_fields(fields)]
        if not matching:
            return
        now = dt.datetime.now(dt.UTC)
        for _rank, group in itertools.groupby(matching, key=lambda r: r.rank):
            allowed = False
            for rule in group:
                if rule.allow:
                    allowed = True
                    continue
                if rule.level == "runtime" and not rule.active(self._context(intent, rule, now)):
                    continue
                if rule.level == "field" and confirm is not None and not await confirm(str(rule.field)):
                    continue
                raise self.refused(rule, intent)
            if allowed:
                return

    def _covering(self, model: str | None, operation: str) -> tuple[Rule, ...]:
        """The effective rules that cover writes of ``operation`` on ``model``, most specific level first.

        Worked out once per (model, operation) while the rules stay the same: ``effective()`` returns the
        same tuple until a rule is added or removed here or a global rule anywhere, or a model is added.
        Runtime rules are only selected here; whether they refuse is decided at each write.
        """
        rules = self.effective()
        held, by_write = self._by_write
        if held is not rules:
            by_write = {}
            self._by_write = (rules, by_write)
        found = by_write.get((model, operation))
        if found is None:
            found = by_write[(model, operation)] = tuple(
                sorted((r for r in rules if r.covers(model, operation)), key=lambda r: -r.rank))
        return found

    def _context(self, intent: WriteIntent, rule: Rule, now: dt.datetime) -> RuleContext:
        return RuleContext(now.astimezone(rule.tz), intent.model, intent.operation, intent.fields, intent.actor,
                           intent.node_id, self._db())

    def refused(self, rule: Rule, intent: WriteIntent) -> DataFlowError:
        """DF-716 naming the write, the rule that refused it and how to change that."""
        what = f"{intent.operation} on {intent.model}" if intent.model else f"{intent.operation} (raw SQL)"
        if intent.node_id:
            what += f" by node {intent.node_id!r}"
        own = any(r is rule for r in self._rules)
        remove = (f"db.protection.remove_rule({rule.id})" if own
                  else "remove it on the instance that added it (global rules protect every instance on the database)")
        solutions = [f"Remove the rule: {remove}."]
        model = intent.model or "Model"
        if rule.level in ("global", "connection"):
            solutions.append(f'Let one model be written: db.protection.add_rule(level="model", model="{model}", '
                             f"allow=True).")
        elif rule.level == "model":
            solutions.append(f'Let some operations through: db.protection.add_rule(level="operation", '
                             f'model="{model}", operations=["{intent.operation}"], allow=True).')
        elif rule.level == "field":
            solutions.append(f"Leave '{rule.field}' out of the changed fields (it may only be set when the row is "
                             f"created).")
        elif rule.level == "runtime":
            solutions.append("Write when the rule's time condition allows it.")
        because = f" ({rule.reason})" if rule.reason else ""
        return DataFlowError(
            "DF-716",
            f"Write refused: {what}. {rule.describe()[0].upper()}{rule.describe()[1:]} refuses it{because}. "
            f"Nothing was written. To change this: {solutions[0]}",
            context={"rule": rule.id, "level": rule.level, "model": intent.model or "",
                     "operation": intent.operation},
            solutions=solutions,
        )


def _check_names(rule: Rule, models: Mapping[str, Any]) -> None:
    """DF-411 when a rule names a model (or field) the instance does not have: a typo must never leave a
    model unprotected. Checked once models exist (rules may be given before they are declared)."""
    if rule.model is None or not models:
        return
    spec = models.get(rule.model)
    if spec is None:
        if rule.level in ("model", "field", "operation"):
            raise invalid(f"{rule.describe()} names the model {rule.model!r}, which is not registered on this "
                          f"instance.{did_you_mean(rule.model, models)}", rule=rule.id, model=rule.model)
        return
    if rule.field is not None and rule.field not in spec.field_map:
        raise invalid(f"{rule.describe()} names the field {rule.field!r}, which {rule.model} does not have."
                      f"{did_you_mean(rule.field, spec.field_map)}", rule=rule.id, field=rule.field)
