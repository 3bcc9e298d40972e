"""The documentation: the README stays short, every section of the README it replaced has a page, the walkthrough
reads the pages' commands as documented, the generated references match the code, and a changed default fails the
docs build (mkdocs, strict, run in a copy of the project)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.walkthrough import NOT_RUN, commands_of, read_page, split_comment, walked_pages

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _headings(text: str) -> set[str]:
    found, fenced = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"^#{1,6} ", line):
            found.add(line.lstrip("#").strip())
    return found


def test_the_readme_is_a_five_minute_read():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move the detail to docs/"


def test_every_section_of_the_readme_it_replaced_has_a_home_in_the_docs():
    # readme_sections.txt: the headings of the 1,833-line README of commit 971ce18 ("OLD => NEW": renamed)
    have = set().union(*(_headings(page.read_text(encoding="utf-8")) for page in DOCS.rglob("*.md")))
    wanted = (Path(__file__).parent / "readme_sections.txt").read_text(encoding="utf-8").splitlines()
    assert len(wanted) == 41
    missing = []
    for line in wanted:
        old, _, new = line.partition(" => ")
        title = (new or old.lstrip("#")).strip()
        if title not in have:
            missing.append(line)
    assert not missing, f"sections with no home under docs/: {missing}"


def test_a_shell_comment_is_split_off_outside_quotes_only():
    assert split_comment("clickflow run   # the job") == ("clickflow run", "the job")
    assert split_comment("clickflow explore -e \"SELECT '#' FROM t\"  # a query") == (
        "clickflow explore -e \"SELECT '#' FROM t\"",
        "a query",
    )
    assert split_comment("echo a#b") == ("echo a#b", "")
    assert split_comment("echo \\# not a comment") == ("echo \\# not a comment", "")


def test_a_commands_comment_says_how_it_ends():
    block = (
        "# a comment line\n"
        "clickflow stack status   # exits 3 when a server is not running\n"
        "clickflow dashboard      # until Ctrl-C (the walkthrough stops it after 15 s)\n"
        "clickflow run &          # in the background\n"
        "clickflow a && clickflow b\n"
        "clickflow migrate app.sql \\\n"
        "    --out dir            # continued\n"
    )
    commands = commands_of(block)
    assert [c.text for c in commands] == [
        "clickflow stack status",
        "clickflow dashboard",
        "clickflow run",
        "clickflow a && clickflow b",
        "clickflow migrate app.sql --out dir",
    ]
    assert commands[0].exits == 3 and commands[0].stop_after is None
    assert commands[1].stop_after == 15 and commands[1].exits == 0
    assert commands[2].background and not commands[3].background
    with pytest.raises(ValueError, match="continuation"):
        commands_of("clickflow run \\\n")


def test_a_walked_command_that_ends_otherwise_than_its_page_says_stops_the_walk(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\ntrue\nfalse        # exits 1\nexit_three() { return 3; }; exit_three   # exits 3\n```\n"
        '```sh title="needs Docker"\ndocker compose up\n```\n'
        "```sh\ntrue   # exits 2\necho never\n```\n"
    )
    walked = read_page(page)
    assert walked.not_run == ["needs Docker"]
    result = subprocess.run(["bash", "-c", walked.script()], capture_output=True, text=True, timeout=30)
    assert result.returncode == 97
    assert "command 4 exited 0 (the page says 2)" in result.stderr
    assert "never" not in result.stdout


def test_a_block_title_must_say_what_it_needs(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('```sh title="skip me"\nclickflow deploy\n```\n')
    with pytest.raises(ValueError, match="must start with one of"):
        read_page(page)


def test_the_walked_pages_are_getting_started_and_every_task_page():
    pages = walked_pages(ROOT / "mkdocs.yml")
    assert pages[0] == "getting-started.md"
    assert {f"tasks/{p.name}" for p in (DOCS / "tasks").glob("*.md")} <= set(pages)
    for name in pages:
        walked = read_page(DOCS / name)
        assert walked.commands, f"docs/{name} shows no command"
        assert all(title.startswith(NOT_RUN) for title in walked.not_run)


def test_the_generated_references_match_the_code():
    from clickflow import reference

    assert reference.stale() == [], f"run `{reference.REGENERATE}`"


@dataclass(frozen=True)
class _Commented:
    first: int = 1  # said after the first
    # said above the second,
    # on two lines
    second: int = 2
    third: int = 3
    fourth: int = 4  # after the fourth
    # above the fifth
    fifth: int = 5  # and after it


def test_a_fields_meaning_is_its_own_comments_not_the_field_before_its():
    from clickflow.reference import _field_comments

    assert _field_comments(_Commented) == {
        "first": "said after the first",
        "second": "said above the second, on two lines",
        "third": "",
        "fourth": "after the fourth",
        "fifth": "above the fifth and after it",
    }


def _project_copy(target: Path) -> Path:
    """The files the docs build reads, copied: the packages it imports, sql/, docs/ and mkdocs.yml."""
    for name in ("clickflow", "connectors", "jobs", "producer", "sql", "docs"):
        shutil.copytree(
            ROOT / name,
            target / name,
            ignore=shutil.ignore_patterns("__pycache__", "build", "target", "node_modules", "*.jar", "*.png"),
        )
    shutil.copy(ROOT / "mkdocs.yml", target / "mkdocs.yml")
    (target / "node_modules").symlink_to(ROOT / "node_modules")  # the search worker's shim (docs/hooks.py)
    for image in DOCS.rglob("*.png"):
        shutil.copy(image, target / "docs" / image.relative_to(DOCS))
    return target


def _build(project: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(project / "site")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_changed_default_fails_the_docs_build_until_the_reference_is_rewritten(tmp_path):
    project = _project_copy(tmp_path / "project")
    built = _build(project)
    assert built.returncode == 0, built.stderr[-3000:]
    assert (project / "site" / "reference" / "config.html").exists()

    config = project / "connectors" / "config.py"
    text = config.read_text(encoding="utf-8")
    assert "poll_interval: Duration = Duration(0.25)" in text
    config.write_text(
        text.replace("poll_interval: Duration = Duration(0.25)", "poll_interval: Duration = Duration(0.5)")
    )
    built = _build(project)
    assert built.returncode != 0
    assert "docs/reference/config.md: stale" in built.stderr and "make docs-reference" in built.stderr

    rewrite = subprocess.run(
        [sys.executable, "-c", "from clickflow import reference; reference.write(only=('config.md',))"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rewrite.returncode == 0, rewrite.stderr
    assert "| `job.poll_interval` | duration" in (project / "docs" / "reference" / "config.md").read_text()
    assert "`500ms`" in (project / "docs" / "reference" / "config.md").read_text()
    assert _build(project).returncode == 0


def test_a_changed_analytic_fails_the_docs_build(tmp_path):
    project = _project_copy(tmp_path / "project")
    sql = project / "sql" / "unique_visitors.sql"
    sql.write_text(sql.read_text(encoding="utf-8").replace("AS events", "AS all_events"), encoding="utf-8")
    built = _build(project)
    assert built.returncode != 0
    assert "docs/reference/outputs.md: stale" in built.stderr
