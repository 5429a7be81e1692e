"""Rich rendering of DF errors and catalogue entries (FULL mode, ``dataflow errors show``).

``render(error)`` prints one panel: the code and title, what happened, the context (node, model,
parameter, the closest valid name, the offending value), likely causes and the fixes, each with its
code example when the catalogue has one, and the docs anchor. MINIMAL and DISABLED errors print
their one-line ``str()``: the mode decides how much a user sees, everywhere.
"""

from __future__ import annotations

import io

from dataflow.errors import SHOWN_CONTEXT, SHOWN_EXAMPLE_LINES, SHOWN_HINTS, DataFlowError
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from dataflow_errors.catalogue import CatalogueEntry, lookup

__all__ = ["entry_panel", "error_panel", "render", "render_text"]


def _section(body: Text, heading: str) -> None:
    body.append(f"\n\n{heading}\n", style="bold")


def _numbered(body: Text, items: list[str]) -> None:
    body.append("\n".join(f"{i}. {item}" for i, item in enumerate(items, 1)))


def _solutions(body: Text, texts: list[str], entry: CatalogueEntry | None) -> None:
    """Each fix; the first one the catalogue has an example for is followed by its first lines, indented
    (the panel keeps to the ~30 lines of a FULL rendering, as the plain text does)."""
    examples = {s.text: s.example for s in entry.solutions} if entry else {}
    shown_example = False
    for i, text in enumerate(texts, 1):
        body.append(f"{i}. {text}" if i == 1 else f"\n{i}. {text}")
        example = examples.get(text)
        if example and not shown_example:
            shown_example = True
            lines = example.splitlines()[:SHOWN_EXAMPLE_LINES]
            body.append("\n" + "\n".join("   " + line for line in lines), style="cyan")


# One styled Text per panel, not a Group of renderables: rich's layout work grows with the number of
# renderables, and FULL rendering has a budget of a few milliseconds per error.
def error_panel(error: DataFlowError) -> Panel:
    """The FULL rendering of ``error`` as a rich Panel."""
    entry = lookup(error.code)
    title = error.title or (entry.title if entry else "")
    body = Text(error.message)
    if error.context:
        _section(body, "Context")
        shown = list(error.context.items())[:SHOWN_CONTEXT]
        body.append("\n".join(f"  {key}: {value}" for key, value in shown))
    if error.causes:
        _section(body, "Likely causes")
        _numbered(body, list(error.causes[:SHOWN_HINTS]))
    if error.solutions:
        _section(body, "Solutions")
        _solutions(body, list(error.solutions[:SHOWN_HINTS]), entry)
    docs = error.docs or (entry.docs if entry else "")
    if docs:
        body.append(f"\n\nDocumentation: {docs}", style="dim")
    return Panel(body, title=f"[bold red]{error.code}[/] {title}".rstrip(), title_align="left",
                 border_style="red")


def entry_panel(entry: CatalogueEntry) -> Panel:
    """A catalogue entry as a rich Panel (``dataflow errors show DF-101``)."""
    body = Text(entry.summary)
    _section(body, "Likely causes")
    _numbered(body, list(entry.causes))
    _section(body, "Solutions")
    _solutions(body, [s.text for s in entry.solutions], entry)
    body.append(f"\n\nDocumentation: {entry.docs}", style="dim")
    return Panel(body, title=f"[bold]{entry.code}[/] {entry.title} [dim]({entry.category})[/]", title_align="left")


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
