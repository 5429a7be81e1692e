"""Rich rendering of DF errors and catalogue entries (FULL mode, ``dataflow errors show``).

``render(error)`` prints one panel: the code and title, what happened, the context (node, model,
parameter, the closest valid name, the offending value), likely causes and the fixes, each with its
code example when the catalogue has one, and the docs anchor. MINIMAL and DISABLED errors print
their one-line ``str()``: the mode decides how much a user sees, everywhere.
"""

from __future__ import annotations

import io
from typing import Any

from dataflow.errors import DataFlowError
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dataflow_errors.catalogue import CatalogueEntry, lookup

__all__ = ["entry_panel", "error_panel", "render", "render_text"]


def _heading(text: str) -> Text:
    return Text(text, style="bold")


def _numbered(items: list[RenderableType | str]) -> list[RenderableType]:
    return [Text(f"{i}. {item}") if isinstance(item, str) else item for i, item in enumerate(items, 1)]


def _solutions(texts: list[str], entry: CatalogueEntry | None) -> list[RenderableType]:
    """Each fix, followed by the catalogue's example for it (matched by text)."""
    examples = {s.text: s.example for s in entry.solutions} if entry else {}
    out: list[RenderableType] = []
    for i, text in enumerate(texts, 1):
        out.append(Text(f"{i}. {text}"))
        example = examples.get(text)
        if example:
            # Plain styled text, not rich.Syntax: pygments would cost tens of milliseconds per error.
            out.append(Padding(Text(example, style="cyan"), (0, 0, 0, 3)))
    return out


def _context_table(context: dict[str, Any]) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1, 0, 2))
    table.add_column(style="cyan")
    table.add_column()
    for key, value in context.items():
        table.add_row(str(key), str(value))
    return table


def error_panel(error: DataFlowError) -> Panel:
    """The FULL rendering of ``error`` as a rich Panel."""
    entry = lookup(error.code)
    title = error.title or (entry.title if entry else "")
    parts: list[RenderableType] = [Text(error.message)]
    if error.context:
        parts += [Text(), _heading("Context"), _context_table(error.context)]
    if error.causes:
        parts += [Text(), _heading("Likely causes"), *_numbered(list(error.causes))]
    if error.solutions:
        parts += [Text(), _heading("Solutions"), *_solutions(list(error.solutions), entry)]
    docs = error.docs or (entry.docs if entry else "")
    if docs:
        parts += [Text(), Text(f"Documentation: {docs}", style="dim")]
    return Panel(Group(*parts), title=f"[bold red]{error.code}[/] {title}".rstrip(), title_align="left",
                 border_style="red", expand=False)


def entry_panel(entry: CatalogueEntry) -> Panel:
    """A catalogue entry as a rich Panel (``dataflow errors show DF-101``)."""
    parts: list[RenderableType] = [Text(entry.summary), Text(), _heading("Likely causes"),
                                   *_numbered(list(entry.causes)), Text(), _heading("Solutions"),
                                   *_solutions([s.text for s in entry.solutions], entry), Text(),
                                   Text(f"Documentation: {entry.docs}", style="dim")]
    return Panel(Group(*parts), title=f"[bold]{entry.code}[/] {entry.title} [dim]({entry.category})[/]",
                 title_align="left", expand=False)


def render(error: DataFlowError, console: Console | None = None) -> None:
    """Print ``error`` in its mode: a rich panel in FULL, its one-line ``str()`` otherwise.

    :param error: the error to show.
    :param console: where to print (default: a Console on stderr).
    """
    console = console or Console(stderr=True)
    if error.effective_mode() == "FULL":
        console.print(error_panel(error))
    else:
        console.print(Text(str(error)), soft_wrap=True)  # one line stays one line


def render_text(error: DataFlowError, width: int = 100) -> str:
    """``render`` into a string without colour (logs, tests, benchmarks)."""
    buffer = io.StringIO()
    render(error, Console(file=buffer, width=width, color_system=None, force_terminal=False))
    return buffer.getvalue()
