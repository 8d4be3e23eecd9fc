"""deploy/tracker.service says what the daemon does: the unit must not drift
from the command, its environment variables and its signals."""

from __future__ import annotations

import configparser
import shlex

import click

from tests.conftest import REPO
from tracker.cli import main
from tracker.daemon import STOP_GRACE_SECONDS


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)  # keys repeat
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(REPO / "deploy" / "tracker.service")
    return parser


def test_the_systemd_unit_runs_the_daemon_as_the_cli_and_daemon_expect() -> None:
    service = unit()["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[0].endswith("/bin/tracker") and command[1:] == ["run"]
    text = (REPO / "deploy" / "tracker.service").read_text(encoding="utf-8")
    environment = dict(line.removeprefix("Environment=").split("=", 1)
                       for line in text.splitlines() if line.startswith("Environment="))
    options = {option.envvar for option in main.params if isinstance(option, click.Option)}
    assert set(environment) == {"TRACKER_CONFIG", "TRACKER_DB"} <= options
    assert environment["TRACKER_DB"].startswith(f"/var/lib/{service['StateDirectory']}/")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # the daemon reloads on SIGHUP
    assert service["KillSignal"] == "SIGTERM"  # ... and stops cleanly on SIGTERM
    assert int(service["TimeoutStopSec"]) > STOP_GRACE_SECONDS  # the poll in flight may end
    assert service["Restart"] == "on-failure"
    assert f"/var/lib/{service['StateDirectory']}" in service["ReadWritePaths"]
