"""Reading KDA SQL: the grammar in ``kda.lark`` (lark, LALR), and the one error every failure becomes.

Identifiers follow KDA's rules: an unquoted name is folded to upper case, a quoted one ("Name") is
kept as written. Keywords are reserved; a column named like one must be quoted, as in KDA.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from clickflow.migrate.errors import MigrateError

__all__ = ["MigrateError", "name", "parse", "text", "where"]

GRAMMAR = Path(__file__).with_name("kda.lark")


@functools.cache
def parser() -> Lark:
    """The KDA SQL parser (built once)."""
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        start="program",
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _expected(error: UnexpectedToken) -> str:
    wanted = sorted(name for name in error.expected if not name.startswith("__"))
    symbols = {"LPAR": "(", "RPAR": ")", "COMMA": ",", "SEMICOLON": ";", "DOT": "."}
    shown = [symbols.get(name, name) for name in wanted][:8]
    return ", ".join(shown) + (", ..." if len(wanted) > 8 else "")


def error_names(error: UnexpectedToken) -> set[str]:
    """The terminals the parser would have taken where it stopped."""
    return set(error.expected)


def parse(code: str) -> Tree:
    """Parse KDA application code; a syntax error becomes a :class:`MigrateError` at its line and column."""
    try:
        return parser().parse(code)
    except UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise MigrateError(f"the SQL ends too early; expected {_expected(exc)}", exc.line, exc.column) from None
        reserved = token.type == str(token).upper() and token.type.isalpha() and "NAME" in error_names(exc)
        hint = f' ({token} is a reserved word: quote it as "{token}" to use it as a name)' if reserved else ""
        raise MigrateError(
            f"unexpected {str(token)!r}; expected {_expected(exc)}{hint}", token.line, token.column
        ) from None
    except UnexpectedCharacters as exc:
        raise MigrateError(f"unexpected character {exc.char!r}", exc.line, exc.column) from None
    except UnexpectedEOF as exc:
        raise MigrateError("the SQL ends too early", exc.line if exc.line > 0 else None, None) from None
    except UnexpectedInput as exc:  # any other lark input error
        raise MigrateError(
            f"cannot read the SQL: {exc}", getattr(exc, "line", None), getattr(exc, "column", None)
        ) from None
    except LarkError as exc:
        raise MigrateError(f"cannot read the SQL: {exc}") from None
    except RecursionError:
        raise MigrateError("the SQL nests too deeply to read") from None


def name(node: Tree | Token) -> str:
    """An identifier's name by KDA's rules: unquoted folded to upper case, quoted kept as written."""
    token = node.children[0] if isinstance(node, Tree) else node
    text = str(token)
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.upper()


def where(node: Tree | Token) -> tuple[int | None, int | None]:
    """The line and column a node starts at."""
    if isinstance(node, Token):
        return node.line, node.column
    meta = node.meta
    return (meta.line, meta.column) if not meta.empty else (None, None)


def text(code: str, node: Tree) -> str:
    """The source text of ``node``."""
    meta = node.meta
    if meta.empty:
        return ""
    return code[meta.start_pos : meta.end_pos]
