"""Where the database is: one place, whatever directory a command runs in."""

from __future__ import annotations

from pathlib import Path

import pytest

from warroom.settings import Settings, absolute_sqlite_url


def test_the_default_database_is_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARROOM_DATABASE_URL", raising=False)
    monkeypatch.delenv("WARROOM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for here in (tmp_path / "a", tmp_path / "b"):
        here.mkdir()
        monkeypatch.chdir(here)
        settings = Settings()
        assert settings.database_url == f"sqlite:///{tmp_path}/xdg/warroom/warroom.db"
        assert settings.uses_default_database
    assert not (tmp_path / "xdg").exists()  # made when a database is opened, not before
    settings.ensure_data_dir()
    assert (tmp_path / "xdg" / "warroom").is_dir()


def test_without_xdg_data_home_it_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("WARROOM_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().sqlite_path == tmp_path / ".local" / "share" / "warroom" / "warroom.db"


def test_warroom_data_dir_moves_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_DATA_DIR", str(tmp_path / "data"))
    assert Settings().sqlite_path == tmp_path / "data" / "warroom.db"


def test_a_relative_sqlite_path_is_made_absolute_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(database_url="sqlite:///./warroom.db")
    assert settings.database_url == f"sqlite:///{tmp_path}/warroom.db"
    assert not settings.uses_default_database
    monkeypatch.chdir("/")
    assert settings.sqlite_path == tmp_path / "warroom.db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:////var/lib/warroom.db",
        "postgresql+psycopg://warroom@db/warroom",
        "sqlite:///file:w.db?mode=ro&uri=true",
    ],
)
def test_other_urls_are_left_as_they_are(url: str) -> None:
    assert absolute_sqlite_url(url) == url


def test_a_query_string_and_a_driver_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        absolute_sqlite_url("sqlite+pysqlite:///sub/../w.db?timeout=5")
        == f"sqlite+pysqlite:///{tmp_path}/w.db?timeout=5"
    )
