"""`chat.slack.invite` is checked at load: severities by name, every name a user, team,
schedule, incident role or escalation target; a problem names its key path and line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from warroom.config.problems import ConfigError
from warroom.config.schema import names_severity
from warroom.configuration import load_config, validate_path


def examples_with_chat(tmp_path: Path, invite: str) -> Path:
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    lines = textwrap.dedent(invite).splitlines()
    chat = "chat:\n  slack:\n    enabled: true\n    invite:\n"
    (tmp_path / "chat.yaml").write_text(chat + "".join(f"      {line}\n" for line in lines))
    return tmp_path


def test_every_kind_of_name_is_accepted(tmp_path: Path) -> None:
    folder = examples_with_chat(
        tmp_path,
        """\
        SEV1: [engineering-leadership, jane.smith, incident-commander, CISO]
        SEV2: [incident_commander, sre]
        """,
    )
    config = load_config(folder)
    assert config.chat.slack.invite["SEV1"][-1] == "CISO"


def test_unknown_names_and_severities_name_their_key_path(tmp_path: Path) -> None:
    folder = examples_with_chat(
        tmp_path,
        """\
        SEV1: [engineering-leadership, jane.smtih]
        SEV9: [sre]
        """,
    )
    found = {(Path(p.file).name, p.line, p.field, p.message) for p in validate_path(folder)}
    assert found == {
        (
            "chat.yaml",
            5,
            "chat.slack.invite.SEV1.1",
            "unknown user, team, schedule or role 'jane.smtih'",
        ),
        ("chat.yaml", 6, "chat.slack.invite.SEV9", "unknown severity 'SEV9'"),
    }


def test_the_seed_names_in_chat_follow_a_renamed_scheme_by_rank(tmp_path: Path) -> None:
    """On a P0-P3 scheme `SEV1` in `invite` and `bridge_severities` means P0, as in rules."""
    folder = examples_with_chat(tmp_path, "SEV1: [incident-commander]\nP2: [incident-commander]")
    shutil.copy(EXAMPLES / "alternate-schemes" / "p0-p3.yaml", folder / "severities.yaml")
    config = load_config(folder)
    assert names_severity(config, ["SEV1"], "P0")
    assert not names_severity(config, ["SEV1"], "P1")
    assert names_severity(config, ["P2"], "P2")
    assert names_severity(config, config.chat.slack.bridge_severities, "P1")  # SEV2
    assert not names_severity(config, config.chat.slack.bridge_severities, "P2")
    examples_with_chat(folder, "SEV9: [incident-commander]")
    with pytest.raises(ConfigError, match=r"chat\.slack\.invite\.SEV9: unknown severity 'SEV9'"):
        load_config(folder)
