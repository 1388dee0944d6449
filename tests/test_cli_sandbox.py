"""`qcw sandbox` and `python -m pipelines.sandbox`: one click command, its defaults shown, its
rate limit passed to the server, and a busy port as one line of error."""

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from pipelines.cli import main
from tests.helpers import REPO_ROOT

QCW = Path(sys.executable).with_name("qcw")
OPTIONS = [
    "--host",
    "--port",
    "--size",
    "--projects",
    "--backtests",
    "--orders",
    "--seed",
    "--fault",
    "--latency-ms",
    "--rate-limit",
    "--verbose",
    "--warm",
]


def words(text: str) -> str:
    """`text` with its line breaks and indents as single spaces (help text wraps anywhere)."""
    return " ".join(text.split())


def test_qcw_sandbox_help_shows_every_option_and_its_default():
    done = CliRunner().invoke(main, ["sandbox", "--help"], prog_name="qcw")
    assert done.exit_code == 0, done.output
    shown = words(done.output)
    assert shown.startswith("Usage: qcw sandbox [OPTIONS]")
    for option in OPTIONS:
        assert f" {option} " in shown, option
    for default in ("127.0.0.1", "8765", "demo", "7", "0.0", "(none)"):
        assert re.search(rf"\[default: {re.escape(default)}[;\]]", shown), default
    assert "KIND[@ENDPOINT][:N]" in done.output  # the fault forms, unwrapped


def test_python_dash_m_pipelines_sandbox_is_the_same_command():
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.sandbox", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    qcw_help = CliRunner().invoke(main, ["sandbox", "--help"], prog_name="qcw").output
    assert words(done.stdout.replace("python -m pipelines.sandbox", "qcw sandbox")) == words(
        qcw_help
    )


def test_a_bad_option_is_a_usage_error():
    done = CliRunner().invoke(main, ["sandbox", "--fault", "nonsense@x:y"])
    assert done.exit_code == 2 and "bad fault spec 'nonsense@x:y'" in done.output


def test_qcw_sandbox_serves_with_its_rate_limit_and_stops_on_sigterm():
    command = [str(QCW), "sandbox", "--port", "0", "--projects", "1", "--backtests", "1"]
    command += ["--orders", "10", "--rate-limit", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.match(
            r"QuantConnect sandbox listening on (http://127\.0\.0\.1:\d+/api/v2/)", line
        )
        assert match and "at most 1 requests/s" in line, line
        url = match.group(1)
        assert f"export QC_API_URL={url} QC_USER_ID=" in process.stdout.readline()
        replies = [requests.post(url + "authenticate", timeout=10) for _ in range(4)]
        refused = [reply for reply in replies if reply.status_code == 429]
        assert len(refused) >= 2, [reply.status_code for reply in replies]
        assert all(reply.headers["Retry-After"].isdigit() for reply in refused)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out.endswith("QuantConnect sandbox stopped\n")


@pytest.mark.parametrize(
    "command", [[str(QCW), "sandbox"], [sys.executable, "-m", "pipelines.sandbox"]]
)
def test_a_busy_port_is_one_line_naming_it(command: list[str]):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*command, "--port", str(port)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    (error,) = done.stderr.splitlines()
    assert error.startswith(f"Error: port {port} on 127.0.0.1 is in use"), error
