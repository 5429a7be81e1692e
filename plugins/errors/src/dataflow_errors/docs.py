"""``docs/errors.md``, generated from the catalogue (``dataflow errors docs --write``).

The page is never edited by hand: a test regenerates it and fails when the committed copy is stale.
Each entry carries an explicit ``<a id="df-101">`` so the anchor every error links to is stable
whatever the title says.
"""

from __future__ import annotations

from pathlib import Path

from dataflow_errors.catalogue import CATALOGUE, CATEGORIES, CatalogueEntry

__all__ = ["default_docs_path", "render_markdown", "write_docs"]

_HEADER = """\
# DataFlow error codes

<!-- Generated from plugins/errors/src/dataflow_errors/catalogue.py by `dataflow errors docs --write`.
     Do not edit by hand: tests/test_error_catalogue.py fails when this page is stale. -->

Every error DataFlow raises is a `DataFlowError` with a stable code, a message, context (node,
model, parameter, the closest valid name, the value), likely causes and solutions; the original
exception is chained as `__cause__`. How much is shown depends on `error_enhancement_mode`
(`DataFlow(error_enhancement_mode=...)` or `DATAFLOW_ERROR_ENHANCER_MODE`): `FULL` (everything),
`MINIMAL` (one line with the code and the first fix) or `DISABLED` (code and message).

```python
from dataflow import DataFlowError

try:
    results, run_id = runtime.execute(wf.build())
except DataFlowError as exc:
    print(exc.code, exc.message, exc.context)
```

`dataflow errors list` shows every code; `dataflow errors show DF-101` shows one.
"""


def _index() -> list[str]:
    lines = ["| code | title | range |", "|---|---|---|"]
    lines += [f"| [{e.code}](#{e.anchor}) | {e.title} | {e.category} |" for e in CATALOGUE]
    return lines


def _entry(entry: CatalogueEntry) -> list[str]:
    lines = [f'<a id="{entry.anchor}"></a>', "", f"### {entry.code}: {entry.title}", "", entry.summary, "",
             "**Likely causes**", ""]
    lines += [f"{i}. {cause}" for i, cause in enumerate(entry.causes, 1)]
    lines += ["", "**Solutions**", ""]
    for i, solution in enumerate(entry.solutions, 1):
        lines.append(f"{i}. {solution.text}")
        if solution.example:
            lines += ["", "   ```python", *(f"   {line}".rstrip() for line in solution.example.splitlines()),
                      "   ```", ""]
    while lines[-1] == "":
        lines.pop()
    return [*lines, ""]


def render_markdown() -> str:
    """The whole page, from the catalogue."""
    lines = [_HEADER, "## Index", "", *_index(), ""]
    for digit, name in CATEGORIES.items():
        entries = [e for e in CATALOGUE if e.code[3] == digit]
        if not entries:
            continue
        lines += [f"## {digit}xx {name}", ""]
        for entry in entries:
            lines += _entry(entry)
    return "\n".join(lines).rstrip() + "\n"


def default_docs_path() -> Path:
    """``docs/errors.md`` of the repository holding this plugin, else of the working directory."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "docs").is_dir() and (parent / "plugins").is_dir():
            return parent / "docs" / "errors.md"
    return Path.cwd() / "docs" / "errors.md"


def write_docs(path: Path | None = None) -> Path:
    """Write the page to ``path`` (default: ``default_docs_path()``); returns where it went."""
    target = path or default_docs_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_markdown(), encoding="utf-8")
    return target
