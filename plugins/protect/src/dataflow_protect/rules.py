"""Protection rules: the six levels of the spec, checked once when given, and the verdict on one write.

A rule is a dict (or keyword arguments) with a ``level`` and what it says at that level::

    {"level": "global", "read_only": True}                      # every instance on this database
    {"level": "connection", "read_only": True}                  # this DataFlow instance only
    {"level": "model", "model": "Invoice", "read_only": True}
    {"level": "operation", "model": "Invoice", "operations": ["delete"]}
    {"level": "field", "model": "User", "field": "email", "immutable": True}
    {"level": "runtime", "when": lambda ctx: ctx.now.hour >= 18}
    {"level": "runtime", "window": "Mon-Fri 09:00-17:00", "tz": "UTC", "allow_inside": True}

``"allow": True`` (global, connection, model and operation levels) lets a write through that a
broader rule refuses. The verdict comes from the most specific level that has a matching rule
(global < connection < model < operation < field < runtime); at one level a refusal wins over an
allowance. Everything invalid is DF-411, naming the rule and the key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dataflow.errors import DataFlowError, did_you_mean

__all__ = [
    "LEVELS",
    "Rule",
    "RuleContext",
    "Window",
    "WriteIntent",
    "kind_of",
    "make_rule",
    "operation_matches",
]

LEVELS = ("global", "connection", "model", "operation", "field", "runtime")
"""From the broadest to the most specific: a later level's verdict overrides an earlier one's."""
RANK = {level: index for index, level in enumerate(LEVELS)}

KIND_OF = {
    "create": "create", "bulk_create": "create",
    "update": "update", "bulk_update": "update",
    "delete": "delete", "bulk_delete": "delete",
    "upsert": "upsert", "bulk_upsert": "upsert",
}
"""The kind of each generated writing operation: a rule naming a kind covers the bulk node too."""
UPSERT_KINDS = frozenset({"upsert", "create", "update"})
"""An upsert creates or updates: a rule naming either kind covers it."""

_KEYS: dict[str, frozenset[str]] = {
    "global": frozenset({"read_only", "allow"}),
    "connection": frozenset({"read_only", "allow"}),
    "model": frozenset({"model", "read_only", "allow"}),
    "operation": frozenset({"model", "operations", "allow"}),
    "field": frozenset({"model", "field", "immutable"}),
    "runtime": frozenset({"when", "window", "tz", "allow_inside", "model", "operations"}),
}
_COMMON = frozenset({"level", "name", "reason"})
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(?:(?P<days>[A-Za-z,\- ]+?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$")
_ids = itertools.count(1)


def kind_of(operation: str) -> str:
    """``bulk_delete`` → ``delete``; an operation of another plugin's node is its own kind."""
    return KIND_OF.get(operation, operation)


def operation_matches(names: frozenset[str], operation: str) -> bool:
    """Whether a rule listing ``names`` covers ``operation`` (``"write"`` covers every write)."""
    if "write" in names or operation in names:
        return True
    kind = kind_of(operation)
    if kind == "upsert":
        return bool(names & UPSERT_KINDS)
    return kind in names


def invalid(message: str, **context: Any) -> DataFlowError:
    """DF-411: a protection or audit setting that cannot be used."""
    return DataFlowError(
        "DF-411", message, context=context,
        solutions=["See the rule formats in the dataflow-protect README (plugins/protect/README.md)."],
    )


@attrs.frozen
class Window:
    """A weekly time window (``"Mon-Fri 09:00-17:00"``) in a time zone; an end before the start runs
    past midnight (``"22:00-06:00"``)."""

    text: str
    days: frozenset[int]
    start: dt.time
    end: dt.time
    zone: dt.tzinfo

    def contains(self, moment: dt.datetime) -> bool:
        local = moment.astimezone(self.zone)
        clock = local.time()
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= clock < self.end
        if clock >= self.start:
            return local.weekday() in self.days
        return clock < self.end and (local.weekday() - 1) % 7 in self.days


def _time(text: str, rule: str) -> dt.time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 23 or minutes > 59:
        raise invalid(f"{rule}: {text!r} is not a time of day (HH:MM, 00:00 to 23:59).", key="window")
    return dt.time(hours, minutes)


def _days(text: str | None, rule: str) -> frozenset[int]:
    if not text:
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        try:
            a = _DAYS.index(first[:3]) if len(first) >= 3 else -1
            b = _DAYS.index(last[:3]) if last else a
        except ValueError:
            a = b = -1
        if a < 0 or b < 0:
            raise invalid(f"{rule}: {part!r} is not a day or a range of days (Mon-Fri, Sat,Sun).", key="window")
        days.update((a + step) % 7 for step in range((b - a) % 7 + 1))
    return frozenset(days)


def zone(name: Any, rule: str) -> dt.tzinfo:
    if name is None or name == "UTC":
        return dt.UTC
    if not isinstance(name, str):
        raise invalid(f"{rule}: 'tz' must be a time zone name such as 'Europe/Paris', got {name!r}.", key="tz")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"{rule}: unknown time zone {name!r}.", key="tz") from None


def parse_window(text: Any, tz: Any, rule: str) -> Window:
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if match is None:
        raise invalid(f"{rule}: 'window' must look like 'Mon-Fri 09:00-17:00' or '22:00-06:00', got {text!r}.",
                      key="window")
    start, end = _time(match["start"], rule), _time(match["end"], rule)
    if start == end:
        raise invalid(f"{rule}: the window {text!r} starts and ends at the same time.", key="window")
    return Window(text, _days(match["days"], rule), start, end, zone(tz, rule))


@attrs.frozen
class RuleContext:
    """What a runtime rule's ``when`` sees: ``now`` (aware, in the rule's ``tz``, UTC by default), the
    write (``model``, ``operation``, ``fields``), who makes it (``actor``), the node and the instance."""

    now: dt.datetime
    model: str | None
    operation: str
    fields: frozenset[str] | None
    actor: str | None
    node_id: str | None
    db: Any


@attrs.frozen
class WriteIntent:
    """One write about to happen: the model (None: a raw statement on a table of no model), the
    operation, and the fields it may change in stored rows (None: any of them)."""

    model: str | None
    operation: str
    fields: frozenset[str] | None = frozenset()
    node_id: str | None = None
    actor: str | None = None


@attrs.frozen(eq=False)
class Rule:
    """One protection rule. ``id`` is its handle for ``db.protection.remove_rule(id)``."""

    id: int
    level: str
    model: str | None = None
    operations: frozenset[str] | None = None
    field: str | None = None
    read_only: bool = False
    immutable: bool = False
    allow: bool = False
    when: Callable[[RuleContext], Any] | None = None
    window: Window | None = None
    allow_inside: bool = True
    tz: dt.tzinfo = dt.UTC
    """The zone of ``RuleContext.now`` for a ``when`` rule."""
    name: str | None = None
    reason: str | None = None
    spec: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The rule as it was given (for listing it back)."""

    @property
    def rank(self) -> int:
        return RANK[self.level]

    @property
    def refuses(self) -> bool:
        return not self.allow

    def describe(self) -> str:
        """``rule #3 'no-deletes' (operation level: Invoice, operations delete)``."""
        label = f"rule #{self.id}" + (f" {self.name!r}" if self.name else "")
        parts: list[str] = []
        if self.model:
            parts.append(self.model if not self.field else f"{self.model}.{self.field}")
        if self.operations:
            parts.append("operations " + ", ".join(sorted(self.operations)))
        if self.read_only:
            parts.append("read-only")
        if self.immutable:
            parts.append("immutable after create")
        if self.when is not None:
            parts.append("refuses writes while its 'when' is true")
        if self.window is not None:
            where = "inside" if self.allow_inside else "outside"
            parts.append(f"writes allowed only {where} {self.window.text!r} ({self.window.zone})")
        if self.allow:
            parts.append("allows")
        return f"{label} ({self.level} level: {'; '.join(parts)})"

    def applies_to(self, intent: WriteIntent) -> bool:
        """Whether the rule speaks about this write (a field rule only for writes that may change its field)."""
        return self.covers(intent.model, intent.operation) and self.covers_fields(intent.fields)

    def covers(self, model: str | None, operation: str) -> bool:
        """``applies_to`` for what depends only on the model and the operation (cached per pair)."""
        if self.model is not None and model != self.model:
            return False
        if self.operations is not None and not operation_matches(self.operations, operation):
            return False
        return self.level != "field" or kind_of(operation) not in ("create", "delete")

    def covers_fields(self, fields: frozenset[str] | None) -> bool:
        """``applies_to`` for the fields a write may change (only field rules look at them)."""
        return self.level != "field" or fields is None or self.field in fields

    def active(self, context: RuleContext) -> bool:
        """For a runtime rule: whether it refuses writes now. Other rules are always active."""
        if self.window is not None:
            return self.window.contains(context.now) != self.allow_inside
        if self.when is not None:
            try:
                return bool(self.when(context))
            except Exception as exc:
                # A predicate that fails must not let the write through: refuse, and say why.
                raise invalid(f"{self.describe()}: its 'when' raised {type(exc).__name__}: {exc}; the write was "
                              f"refused.", rule=self.id) from exc
        return True

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec}


def make_rule(raw: Any, position: str) -> Rule:
    """A Rule from what the user gave (a dict); DF-411 naming ``position`` and the problem."""
    if isinstance(raw, Rule):
        return raw
    if not isinstance(raw, Mapping):
        raise invalid(f"{position}: a protection rule is a dict such as {{'level': 'model', 'model': 'Invoice', "
                      f"'read_only': True}}, got {type(raw).__name__}.")
    level = raw.get("level")
    if level not in RANK:
        raise invalid(f"{position}: 'level' must be one of {', '.join(LEVELS)}, got {level!r}."
                      f"{did_you_mean(str(level), LEVELS) if isinstance(level, str) else ''}", key="level")
    allowed = _KEYS[level] | _COMMON
    for key in raw:
        if key not in allowed:
            raise invalid(f"{position}: a {level} rule takes no {key!r}.{did_you_mean(str(key), allowed)} "
                          f"It takes: {', '.join(sorted(allowed))}.", key=str(key))
    for key in ("read_only", "immutable", "allow", "allow_inside"):
        if key in raw and not isinstance(raw[key], bool):
            raise invalid(f"{position}: {key!r} takes True or False, got {raw[key]!r}.", key=key)
    for key in ("name", "reason", "model", "field"):
        if key in raw and raw[key] is not None and (not isinstance(raw[key], str) or not raw[key]):
            raise invalid(f"{position}: {key!r} must be a non-empty string, got {raw[key]!r}.", key=key)
    operations = None
    if raw.get("operations") is not None:
        ops = raw["operations"]
        if isinstance(ops, str):
            ops = [ops]
        if not isinstance(ops, list | tuple | set | frozenset) or not ops or not all(
                isinstance(o, str) and o for o in ops):
            raise invalid(f"{position}: 'operations' must be a non-empty list of operation names such as "
                          f"['delete', 'bulk_delete'], got {raw['operations']!r}.", key="operations")
        operations = frozenset(ops)
    read_only, allow = raw.get("read_only", False), raw.get("allow", False)
    if read_only and allow:
        raise invalid(f"{position}: a rule cannot be both read_only and allow.", key="allow")
    window = None
    tz: dt.tzinfo = dt.UTC
    if level == "runtime":
        when, text = raw.get("when"), raw.get("window")
        if (when is None) == (text is None):
            raise invalid(f"{position}: a runtime rule takes either 'when' (a function of the context, true when "
                          f"writes are refused) or 'window' ('Mon-Fri 09:00-17:00').", key="when")
        if when is not None and not callable(when):
            raise invalid(f"{position}: 'when' must be a function taking the context, got {when!r}.", key="when")
        if text is not None:
            window = parse_window(text, raw.get("tz"), position)
        elif "tz" in raw:
            tz = zone(raw["tz"], position)
        if "allow_inside" in raw and text is None:
            raise invalid(f"{position}: 'allow_inside' goes with a 'window'.", key="allow_inside")
    elif level == "model" and not raw.get("model"):
        raise invalid(f"{position}: a model rule needs 'model' (the model's class name).", key="model")
    elif level == "operation" and operations is None:
        raise invalid(f"{position}: an operation rule needs 'operations', e.g. ['delete'].", key="operations")
    elif level == "field":
        if not raw.get("model") or not raw.get("field"):
            raise invalid(f"{position}: a field rule needs 'model' and 'field'.", key="field")
        if raw.get("immutable") is not True:
            raise invalid(f"{position}: a field rule says 'immutable': True (the field cannot change after the "
                          f"row is created).", key="immutable")
    elif level in ("global", "connection", "model") and not (read_only or allow):
        raise invalid(f"{position}: a {level} rule says 'read_only': True or 'allow': True.", key="read_only")
    return Rule(
        id=next(_ids), level=level, model=raw.get("model"), operations=operations, field=raw.get("field"),
        read_only=read_only, immutable=raw.get("immutable", False), allow=allow, when=raw.get("when"),
        window=window, allow_inside=raw.get("allow_inside", True), tz=tz, name=raw.get("name"),
        reason=raw.get("reason"), spec=dict(raw),
    )
