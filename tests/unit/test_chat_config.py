"""`chat.slack.invite` is checked at load: severities by name, every name a user, team,
schedule, incident role or escalation target; a problem names its key path and line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from tests.conftest import EXAMPLES
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
