"""Reading the documentation's shell blocks as a newcomer runs them (``tests/integration/test_walkthrough.py``).

A page's ```` ```sh ```` blocks are its commands, run in order in one shell (so a variable set in one block is
there in the next; ``pipefail`` on, so a failing command piped into another fails too). What a command's
trailing comment says is how it is run:

- ``exits N``: it is expected to end with status N (any other status, 0 included, fails the walk);
- ``stops it after N s``: it runs until Ctrl-C; the walk sends SIGINT after N seconds and expects 0 or 130;
- a command ending in ``&`` runs in the background; the walk sends it SIGTERM at the end of the page.

A block with a title (```` ```sh title="needs an AWS account" ````) is not run: its title says what it needs,
and must start with one of :data:`NOT_RUN`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

NOT_RUN = ("needs an AWS account", "needs Docker", "from a fresh clone")
_FENCE = re.compile(r"^```sh([^\n]*)\n(.*?)^```$", re.S | re.M)
_TITLE = re.compile(r'title="([^"]*)"')


@dataclass
class Command:
    """One command of a page, as shown, and how the walk runs it."""

    text: str  # the command line (continuations joined), without its comment
    comment: str = ""
    exits: int = 0
    stop_after: float | None = None  # seconds before SIGINT, for a command that runs until Ctrl-C
    background: bool = False

    def script(self, index: int) -> str:
        """Bash that runs the command and stops the walk, naming it, when it does not end as the page says."""
        shown = shlex.quote(self.text)
        if self.background:
            return f"{self.text} &\n__background+=($!)\n"
        if self.stop_after is not None:
            run = f"timeout --preserve-status -s INT {self.stop_after:g} bash -c {shlex.quote(self.text)}"
            allowed = "0 130"
        else:
            run = self.text
            allowed = str(self.exits)
        return (
            f"echo '$ '{shown}\n__started=$SECONDS\n{run}\n__status=$?\n"
            f'echo "(exit $__status after $((SECONDS - __started)) s)"\n'
            f'case " {allowed} " in *" $__status "*) ;; *) echo "walkthrough: command {index} exited $__status '
            f'(the page says {allowed}): "{shown} >&2; __stop_background; exit 97 ;; esac\n'
        )


@dataclass
class Page:
    """A documentation page's commands, and the blocks it shows but that are not run here (with why)."""

    path: Path
    commands: list[Command] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    def script(self) -> str:
        """The page as one bash script (background commands stopped at its end, whatever happens)."""
        parts = [
            "set -o pipefail\n",  # a command piped into another fails the walk when it fails
            "__background=()\n",
            '__stop_background() { for p in "${__background[@]}"; do kill -TERM "$p" 2>/dev/null; done; '
            'for p in "${__background[@]}"; do wait "$p" 2>/dev/null; done; }\n',
        ]
        parts += [command.script(index) for index, command in enumerate(self.commands, 1)]
        parts.append("__stop_background\nexit 0\n")
        return "".join(parts)


def split_comment(line: str) -> tuple[str, str]:
    """``line`` split at its shell comment (a ``#`` after a blank, outside quotes): (command, comment)."""
    quote = ""
    escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1 :].strip()
    return line.rstrip(), ""


def commands_of(block: str) -> list[Command]:
    """The commands of one shell block: continuation lines joined, comment-only and blank lines left out."""
    found = []
    pending = ""
    for raw in block.splitlines():
        if pending:
            raw = pending + " " + raw.strip()
            pending = ""
        if raw.rstrip().endswith("\\"):
            pending = raw.rstrip()[:-1].rstrip()
            continue
        text, comment = split_comment(raw)
        if not text.strip():
            continue
        command = Command(text.strip(), comment)
        exits = re.search(r"\bexits (\d+)\b", comment)
        if exits:
            command.exits = int(exits.group(1))
        stop = re.search(r"stops it after (\d+) s\b", comment)
        if stop:
            command.stop_after = float(stop.group(1))
        if command.text.endswith("&") and not command.text.endswith("&&"):
            command.text = command.text[:-1].rstrip()
            command.background = True
        found.append(command)
    if pending:
        raise ValueError(f"a command ends with a continuation: {pending!r}")
    return found


def read_page(path: Path) -> Page:
    """A page's commands in order; a titled block is listed as not run (its title must say what it needs)."""
    page = Page(path)
    for match in _FENCE.finditer(path.read_text(encoding="utf-8")):
        info, body = match.group(1), match.group(2)
        title = _TITLE.search(info)
        if title:
            if not title.group(1).startswith(NOT_RUN):
                raise ValueError(f"{path}: a block titled {title.group(1)!r}: a title must start with one of {NOT_RUN}")
            page.not_run.append(title.group(1))
            continue
        if info.strip():
            raise ValueError(f"{path}: a shell block's info {info.strip()!r}: only title=... is understood")
        page.commands.extend(commands_of(body))
    return page


def walked_pages(mkdocs_yml: Path) -> list[str]:
    """The pages a newcomer walks, in the site's order: Getting started and every page under Tasks."""
    import yaml

    nav = yaml.safe_load(mkdocs_yml.read_text(encoding="utf-8"))["nav"]
    pages = []
    for entry in nav:
        (title, target), *_ = entry.items()
        if title == "Getting started":
            pages.append(target)
        elif title == "Tasks":
            pages.extend(next(iter(item.values())) for item in target)
    return pages
