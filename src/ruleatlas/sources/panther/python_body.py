"""A Panther detection's Python file, read with `ast` only: it is never imported, compiled to code or run.

What the metadata pass needs from it: that it parses (a syntax error is a Problem naming the Python file and
line), and which of Panther's entry points it defines (`rule`/`policy` is the detection, `title`, `dedup`,
`severity`, `alert_context`... shape the alert). `python_logic` reduces the detection function's logic.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ruleatlas.model import Problem

ENTRY_POINTS = ("rule", "policy")
MAX_PYTHON_BYTES = 512 * 1024  # the largest Panther detection is ~30 KB


@dataclass(slots=True)
class PythonBody:
    functions: tuple[str, ...] = ()  # module-level functions, in file order
    imports: tuple[str, ...] = ()  # modules imported (panther_base_helpers, ...)
    tree: ast.Module | None = None  # the parsed module, for `python_logic`
    problems: list[Problem] = field(default_factory=list)


def read_python(source: str, rel_path: str) -> PythonBody:
    size = len(source.encode("utf-8", "surrogateescape"))
    if size > MAX_PYTHON_BYTES:
        return PythonBody(
            problems=[
                Problem(rel_path, f"Python file too large ({size} bytes > {MAX_PYTHON_BYTES})", 1, "not read")
            ]
        )
    try:
        tree = ast.parse(source, filename=rel_path)
    except SyntaxError as exc:
        return PythonBody(
            problems=[
                Problem(
                    rel_path,
                    f"Python syntax error: {exc.msg}",
                    exc.lineno,
                    "the detection's Python must parse (it is read, never run)",
                )
            ]
        )
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return PythonBody(problems=[Problem(rel_path, f"unusable Python: {type(exc).__name__}: {exc}", 1)])
    functions: list[str] = []
    imports: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append(node.name)
        elif isinstance(node, ast.Import):
            imports += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.append(node.module)
    return PythonBody(tuple(functions), tuple(dict.fromkeys(imports)), tree)
