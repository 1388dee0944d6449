"""The README's commands that read the warehouse, run as a new user runs them: in a real terminal
(tmux) of 80 and of 120 columns, from a checkout whose data/warehouse.duckdb is what `make demo`
syncs. The screen is checked as the user sees it: nothing cut (no '…'), no line wider than the
terminal (tmux would have wrapped it), and every number the query returns, whole.

The commands are read from README.md: each `.venv/bin/qcw sql ...` and `.venv/bin/qcw status`
line of its shell blocks, and each ```sql block, saved and run as the README says (`qcw sql -f
query.sql`). tmux comes from Debian (`apt-get install -y tmux`; `make test` and `.ci/run`
install it).
"""

import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from rich.cells import cell_len

from pipelines import warehouse
from tests.helpers import NUMBER, REPO_ROOT, shown_as

README = REPO_ROOT / "README.md"
WIDTHS = (80, 120)
HEIGHT = 50
RUN_SECONDS = 60
TMUX_SECONDS = 60  # a tmux command's answer, on a busy machine
# The terminal: tmux of its own (no ~/.tmux.conf), a plain shell, every line kept, and the pane
# kept after its command exits (with nothing written over it) so that it can be read.
TMUX_CONF = """\
set -g default-shell /bin/sh
set -g history-limit 100000
set -g remain-on-exit on
set -g remain-on-exit-format ""
"""
# What the user's shell would not have: another terminal's size, another warehouse, a tmux.
UNSET = ("COLUMNS", "LINES", "TMUX", "TMUX_PANE", "WAREHOUSE_PATH", "QC_USER_ID", "QC_API_TOKEN")


@dataclass(frozen=True)
class ReadmeCommand:
    """A shell line of the README (its comment dropped), and the ```sql block it runs when the
    README says to save one as a file."""

    line: str
    query: str | None = None

    @property
    def arguments(self) -> list[str]:
        """`qcw`'s arguments."""
        return shlex.split(self.line)[1:]

    def __str__(self) -> str:
        shown = self.line.removeprefix(".venv/bin/")
        if self.query is not None:
            shown += ": " + " ".join(self.query.split())
        return shown[:60]


def readme_commands() -> list[ReadmeCommand]:
    """Every `qcw sql` and `qcw status` line of the README's shell blocks, and each ```sql block
    run the way the README says to run one."""
    text = README.read_text()
    shell = "\n".join(re.findall(r"```(?:bash|sh|shell|console)\n(.*?)```", text, re.DOTALL))
    lines = re.findall(r"^\.venv/bin/qcw (?:sql|status)\b.*$", shell, re.MULTILINE)
    commands = [ReadmeCommand(shlex.join(shlex.split(line, comments=True))) for line in lines]
    saved = re.search(r"run it with `qcw (sql -f \S+)`", text)
    assert saved, "the README no longer says how to run a saved query"
    for block in re.findall(r"```sql\n(.*?)```", text, re.DOTALL):
        commands.append(ReadmeCommand(f".venv/bin/qcw {saved[1]}", block))
    return commands


COMMANDS = readme_commands()


@dataclass(frozen=True)
class Screen:
    """What a command left in the terminal: its rows as the user sees them, the same rows with
    the lines tmux wrapped joined again (a line wider than the terminal is one line here), and
    the command's exit status."""

    rows: list[str]
    lines: list[str]
    status: int

    @property
    def text(self) -> str:
        return "\n".join(self.rows)


def captured(text: str) -> list[str]:
    """Captured rows without trailing blanks, and without the blank rows below the output."""
    rows = [row.rstrip() for row in text.split("\n")]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def run_in_terminal(line: str, cwd: Path, width: int, home: Path) -> Screen:
    """Run a shell `line` in a new detached tmux terminal of `width` x HEIGHT, on a private
    socket in `home`, and read the terminal when the command has exited."""
    if shutil.which("tmux") is None:
        pytest.fail("No tmux: install Debian's with `apt-get install -y tmux` (make test does).")
    (home / "tmux.conf").write_text(TMUX_CONF)
    tmux = ["tmux", "-u", "-S", str(home / "tmux.sock"), "-f", str(home / "tmux.conf")]
    env = {name: value for name, value in os.environ.items() if name not in UNSET}
    env |= {"LC_ALL": "C.UTF-8", "TERM": "xterm-256color"}

    def call(*arguments: str) -> str:
        done = subprocess.run(
            [*tmux, *arguments], env=env, capture_output=True, text=True, timeout=TMUX_SECONDS
        )
        assert done.returncode == 0, f"tmux {arguments[0]}: {done.stderr}"
        return done.stdout.rstrip("\n")

    # The exit status, from the shell: tmux's #{pane_dead_status} is sometimes never set.
    status = home / "exit-status"
    size = ["-x", str(width), "-y", str(HEIGHT)]
    script = f"{line}\necho $? > {shlex.quote(str(status))}"
    session = ["-d", "-s", "readme", *size, "-c", str(cwd), "-P", "-F", "#{pid}", script]
    server = int(call("new-session", *session))  # the tmux server's pid, to kill if it hangs
    try:
        everything = ["-p", "-S", "-", "-E", "-", "-t", "readme"]
        deadline = time.monotonic() + RUN_SECONDS
        while call("display-message", "-p", "-t", "readme", "#{pane_dead}") != "1":
            if time.monotonic() > deadline:
                screen = call("capture-pane", *everything)
                pytest.fail(f"`{line}` did not finish in {RUN_SECONDS} s:\n{screen}")
            time.sleep(0.1)
        assert call("display-message", "-p", "-t", "readme", "#{pane_width}") == str(width)
        rows = captured(call("capture-pane", *everything))
        lines = captured(call("capture-pane", "-J", *everything))
        return Screen(rows, lines, int(status.read_text()))
    finally:
        try:
            call("kill-server")
        except (AssertionError, subprocess.TimeoutExpired):
            with suppress(ProcessLookupError):
                os.kill(server, signal.SIGKILL)


@pytest.fixture
def checkout(demo_warehouse: Path, tmp_path: Path) -> Path:
    """A directory that looks like the repository after `make demo`, where the README's lines
    run as they are written: `.venv/` and `sql/` are the repository's, `data/` the demo's."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in (".venv", "sql"):
        (root / name).symlink_to(REPO_ROOT / name)
    (root / "data").symlink_to(demo_warehouse.parent)
    return root


def expected_numbers(command: ReadmeCommand, root: Path) -> tuple[list[str], list[str]]:
    """The column names and numbers (as `qcw` prints them) the command must show whole, from
    the warehouse read directly: each cell of a `qcw sql` result, or the row count when it goes
    to a file; for `qcw status`, what it reads."""
    arguments, path = command.arguments, root / "data" / "warehouse.duckdb"
    if arguments[0] == "status":
        with warehouse.open_reader(path) as store:
            counts = [*store.row_counts().items(), *store.read("backtests_by_status")]
            runs = store.last_sync_runs()
        names = [name for name, _ in counts] + [step for step, *_ in runs]
        seconds = [f"{(end - start).total_seconds():.1f}" for _, start, end, *_ in runs]
        return names, [f"{n:,}" for _, n in counts] + seconds
    if "-f" in arguments:
        query = (root / arguments[arguments.index("-f") + 1]).read_text()
    else:
        query = arguments[1]
    with duckdb.connect(str(path), read_only=True) as conn:
        relation = conn.sql(query)
        names, rows = relation.columns, relation.fetchall()
    count = f"{len(rows):,}"
    if "-o" in arguments:
        return [], [count]
    numbers = [
        shown_as(name, value)
        for row in rows
        for name, value in zip(names, row, strict=True)
        if isinstance(value, int | float | Decimal)
        and not isinstance(value, bool)
        and math.isfinite(value)
    ]
    return names, [*numbers, count]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_the_readme_commands_show_every_number_whole_in_a_real_terminal(
    command: ReadmeCommand, width: int, checkout: Path, tmp_path: Path
):
    if command.query is not None:
        (checkout / command.arguments[-1]).write_text(command.query)
    screen = run_in_terminal(command.line, checkout, width, tmp_path)
    shown = f"`{command.line}` at {width} columns:\n{screen.text}"
    assert screen.status == 0, shown
    assert screen.rows, shown
    assert "…" not in screen.text, shown  # nothing cut, in particular no number
    wrapped = [line for line in screen.lines if cell_len(line) > width]
    assert not wrapped, shown  # tmux wrapped them: the user sees them broken over two rows
    names, numbers = expected_numbers(command, checkout)
    assert numbers, "nothing to check"
    tokens = set(NUMBER.findall(screen.text))
    missing = [number for number in numbers if number not in tokens]
    assert not missing, f"{missing} not shown whole in {shown}"
    for name in names:  # each column, table and status whole, as a word of its own
        assert re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", screen.text), (name, shown)
    if "-o" in command.arguments:
        output = checkout / command.arguments[command.arguments.index("-o") + 1]
        assert len(output.read_text().splitlines()) == int(numbers[0].replace(",", "")) + 1
