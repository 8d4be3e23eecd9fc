"""Replacing a file atomically, with its permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tracker.atomicfile import replace_text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_umasks(
        tmp_path: Path) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text("old")
    config.chmod(0o640)
    replace_text(config, "new")
    assert config.read_text() == "new" and mode(config) == 0o640

    umask = os.umask(0o027)
    try:
        feed = tmp_path / "drones.atom"
        replace_text(feed, "<feed/>")
    finally:
        os.umask(umask)
    assert mode(feed) == 0o640  # 0666 under the umask: readable by a web server's group
    assert sorted(path.name for path in tmp_path.iterdir()) == ["drones.atom", "tracker.toml"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "feed.atom"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        replace_text(path, "half \ud800 written")  # a lone surrogate cannot be UTF-8
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.atom"]
