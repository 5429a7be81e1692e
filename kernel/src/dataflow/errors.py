"""DataFlow's error type: every error a user can meet is a DataFlowError carrying a stable DF code.

The kernel raises these with a code, a message and context; the errors plugin (and any other plugin,
through the ``dataflow_error_hints`` hook) adds causes and solutions. Rendering depends on the
enhancement mode: FULL (rich, with causes and solutions), MINIMAL (one line with the fix) or DISABLED
(bare code and message).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "SHOWN_CONTEXT",
    "SHOWN_EXAMPLE_LINES",
    "SHOWN_HINTS",
    "DataFlowError",
    "ErrorHint",
    "WorkflowExecutionError",
    "closest",
    "redact_url",
    "short_repr",
]

_MODES = ("FULL", "MINIMAL", "DISABLED")
_MAX_VALUE_CHARS = 80
"""Values shown in an error's context (and quoted in its message) are cut to this many characters."""
SHOWN_CONTEXT, SHOWN_HINTS, SHOWN_EXAMPLE_LINES = 8, 3, 4
"""How much of the context, causes / solutions and example a FULL rendering shows (about 30 lines):
every renderer (the plain text here, the errors plugin's rich panel) keeps to it."""
_MAX_MESSAGE_CHARS = 2000
"""An error's message is cut to this many characters: a hostile value never floods a log."""


@attrs.frozen
class ErrorHint:
    """What a plugin knows about an error code: a title, likely causes and ways to fix it.

    :param code: the DF code the hint applies to (``"DF-101"``).
    :param title: a short title (``"Missing Required Parameter"``).
    :param causes: likely causes, most likely first.
    :param solutions: fixes, each a sentence, optionally followed by a short code example.
    :param docs: the anchor in ``docs/errors.md``.
    """

    code: str
    title: str = ""
    causes: tuple[str, ...] = ()
    solutions: tuple[str, ...] = ()
    docs: str = ""
    example: str = ""


class DataFlowError(Exception):
    """An error with a stable ``DF-xxx`` code, context, likely causes and solutions.

    :param code: the stable code, ``DF-`` and three digits.
    :param message: what happened, in one sentence.
    :param context: facts that help (node id, model, parameter, the closest valid name, the value).
    :param causes: likely causes.
    :param solutions: how to fix it.
    """

    mode: str = "FULL"
    """Default rendering mode; a DataFlow instance sets its own on the errors it raises."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        context: Mapping[str, Any] | None = None,
        causes: Iterable[str] = (),
        solutions: Iterable[str] = (),
    ) -> None:
        message = redact_url(str(message))  # a URL's password never reaches str(), repr() or logs
        if len(message) > _MAX_MESSAGE_CHARS:
            message = message[: _MAX_MESSAGE_CHARS - 1] + "…"
        super().__init__(message)
        self.code = code
        self.message = message
        self.context: dict[str, Any] = {k: _safe_value(v) for k, v in (context or {}).items()}
        self.causes: list[str] = list(causes)
        self.solutions: list[str] = list(solutions)
        self.title = ""
        self.docs = ""
        self.example = ""
        self.enhanced = False
        self.render_mode: str | None = None
        self.wrapped_by: str | None = None
        """The code of the error that wraps this one and shows it in full (DF-802), if any."""

    def add_hint(self, hint: ErrorHint) -> None:
        """Fold a plugin's hint into this error (causes and solutions are appended, not duplicated)."""
        self.title = self.title or hint.title
        self.docs = self.docs or hint.docs
        self.example = self.example or hint.example
        for cause in hint.causes:
            if cause not in self.causes:
                self.causes.append(cause)
        for solution in hint.solutions:
            if solution not in self.solutions:
                self.solutions.append(solution)

    def effective_mode(self) -> str:
        mode = self.render_mode or os.environ.get("DATAFLOW_ERROR_ENHANCER_MODE") or self.mode
        mode = mode.upper()
        return mode if mode in _MODES else "FULL"

    def __str__(self) -> str:
        mode = self.effective_mode()
        head = f"{self.code}: {self.message}"
        if mode == "DISABLED":
            return head
        if mode == "MINIMAL":
            return f"{head} Fix: {self.solutions[0]}" if self.solutions else head
        if self.wrapped_by:
            # A traceback prints the cause, then the error wrapping it: say it in full only once.
            return f"{head} (in full in the {self.wrapped_by} below)"
        return self.render_plain()

    def render_plain(self) -> str:
        """The FULL rendering as plain text: title, message, context, causes, solutions, docs.

        At most about 30 lines: the likeliest causes and fixes (those of the raise site and of the
        wrapped error come first), the context, and the first lines of the example.
        """
        # Without a title (no catalogue loaded) the code heads the message itself, never a bare line.
        lines = [f"{self.code}: {self.title}", "", f"Error: {self.message}"] if self.title else \
            [f"{self.code}: {self.message}"]
        if self.context:
            lines += ["", "Context:"] + [f"- {k}: {v}" for k, v in list(self.context.items())[:SHOWN_CONTEXT]]
        if self.causes:
            lines += ["", "Causes:"] + [f"{i}. {c}" for i, c in enumerate(self.causes[:SHOWN_HINTS], 1)]
        if self.solutions:
            lines += ["", "Solutions:"] + [f"{i}. {s}" for i, s in enumerate(self.solutions[:SHOWN_HINTS], 1)]
        if self.example:
            lines += ["", "Example:", *("   " + line for line in self.example.splitlines()[:SHOWN_EXAMPLE_LINES])]
        if self.docs:
            lines += ["", f"Documentation: {self.docs}"]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.code, self.message, self.context, self.causes, self.solutions))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description, for ``--json`` output and logs."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.message,
            "context": {k: str(v) for k, v in self.context.items()},
            "causes": list(self.causes),
            "solutions": list(self.solutions),
            "docs": self.docs,
        }


def _rebuild(cls: type[DataFlowError], code: str, message: str, context: Any, causes: Any, sol: Any) -> Any:
    error = cls.__new__(cls)
    DataFlowError.__init__(error, code, message, context=context, causes=causes, solutions=sol)
    return error


class WorkflowExecutionError(DataFlowError):
    """A node failed while a workflow ran (DF-802); ``node_id`` names it and ``__cause__`` is the cause."""

    def __init__(self, node_id: str, node_type: str, cause: BaseException) -> None:
        cause_code = getattr(cause, "code", None)
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        if isinstance(cause, DataFlowError):
            detail = f"{cause.code}: {cause.message}"
        context: dict[str, Any] = {"node_id": node_id, "node_type": node_type, "cause_code": cause_code}
        if isinstance(cause, DataFlowError):
            # The cause is shown here, in full, once: its context joins ours, its hints come first.
            context.update((k, v) for k, v in cause.context.items() if k not in context and k != "node")
        super().__init__(
            "DF-802",
            f"Node '{node_id}' ({node_type}) failed: {detail}",
            context=context,
            causes=getattr(cause, "causes", ()),
            solutions=getattr(cause, "solutions", ()),
        )
        if isinstance(cause, DataFlowError):
            self.example = cause.example
            cause.wrapped_by = self.code
        self.node_id = node_id
        self.node_type = node_type
        self.cause_code = cause_code
        self.rolled_back = False
        """True when the run was transactional and nothing it wrote was kept."""
        self.__cause__ = cause

    def mark_rolled_back(self, what: str = "The workflow was rolled back: none of its writes were kept.") -> None:
        """Say what was rolled back because of this failure (once)."""
        if not self.rolled_back:
            self.rolled_back = True
            self.message += f" {what}"
            self.args = (self.message,)
            self.context["rolled_back"] = True

    def __reduce__(self) -> tuple[Any, ...]:
        return (WorkflowExecutionError, (self.node_id, self.node_type, self.__cause__))


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate that looks most like ``name`` (for "did you mean …?"), or None."""
    pool = list(candidates)
    found = difflib.get_close_matches(str(name), pool, n=1, cutoff=0.6)
    if found:
        return found[0]
    lowered = {c.lower(): c for c in pool}
    return lowered.get(str(name).lower())


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` or an empty string."""
    match = closest(name, candidates)
    return f" Did you mean '{match}'?" if match else ""


# Redaction runs over every error's message and context, so it must stay linear in the text's length
# (a backtracking pattern over a 100,000-character value froze the process, GIL held): the text is cut
# into tokens at whitespace (a quote may be part of a password), each token read with str.find.
_TOKEN_BREAKS = re.compile(r"(\s+)")
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:password|passwd|pwd|sslpassword)=)[^&;#\s'\"`]*")
_HOST_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[")
MASK = "***"


def redact_url(text: str) -> str:
    """Hide every password inside ``text``: of a URL (``scheme://user:pw@host``, ``@`` in the password
    included), of a bare ``user:pw@host`` and of a ``?password=`` query parameter. Linear time."""
    if "@" not in text and "=" not in text:
        return text  # the common message: nothing that can hold a password
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m[1] + MASK, text)
    if "@" not in text:
        return text
    parts = _TOKEN_BREAKS.split(text)
    for index in range(0, len(parts), 2):  # even items are tokens, odd ones the breaks between them
        if "@" in parts[index]:
            parts[index] = _redact_token(parts[index])
    return "".join(parts)


def _redact_token(token: str) -> str:
    segments = token.split("://")
    if len(segments) == 1:
        return _redact_userinfo(token, bare=True)
    # Segment 0 ends with a scheme; each later one starts with an authority.
    return "://".join([segments[0], *(_redact_userinfo(s, bare=False) for s in segments[1:])])


def _redact_userinfo(segment: str, *, bare: bool) -> str:
    """``user:pw@host/…`` → ``user:***@host/…``; the password runs to the last ``@`` of the authority."""
    first_at = segment.find("@")
    colon = segment.find(":", 0, first_at) if first_at > 0 else -1
    if colon < 0:
        return segment
    ends = [i for i in (segment.find(c, first_at) for c in "/?#") if i >= 0]
    last_at = segment.rfind("@", first_at, min(ends) if ends else len(segment))
    if last_at == colon + 1 or (bare and (last_at + 1 >= len(segment) or segment[last_at + 1] not in _HOST_START)):
        return segment  # no password, or (bare) no host after it: not a URL's user info
    return f"{segment[: colon + 1]}{MASK}{segment[last_at:]}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_repr(value: Any, limit: int = _MAX_VALUE_CHARS) -> str:
    """``repr(value)`` for people: bounded in length and nesting (a value nested 10,000 deep or
    50 MB long costs microseconds, never a RecursionError), with any URL's password hidden."""
    import reprlib

    if isinstance(value, str):
        # Redact before cutting (a cut could split a URL and strand half a password); a huge value
        # is redacted on a generous prefix only, since the rest is never shown.
        return _cut(redact_url(repr(value[:_REDACT_WHOLE_UP_TO])), limit)
    shown = reprlib.Repr()
    shown.maxlevel, shown.maxstring, shown.maxother = 4, limit, limit
    try:
        text = shown.repr(value)
    except Exception:  # a value whose repr fails (an int of 5,000 digits, a broken __repr__)
        text = f"<{type(value).__name__}>"
    return _cut(redact_url(text), limit)


_REDACT_WHOLE_UP_TO = 100_000


def _safe_value(value: Any) -> Any:
    """Context values are shown to people: truncate long ones and never show a URL's password."""
    if isinstance(value, str):
        return _cut(redact_url(value[:_REDACT_WHOLE_UP_TO]), _MAX_VALUE_CHARS)
    if isinstance(value, float | bool | type(None)) or (isinstance(value, int) and -2**63 <= value < 2**63):
        return value
    return short_repr(value)
