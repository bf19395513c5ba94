"""`warroom import incidents` and `warroom report …` against a real server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli

pytestmark = pytest.mark.e2e


def test_import_a_csv_twice_then_report(cli_sqlite: Cli, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "history.csv"
    path.write_text(
        "external_id,title,severity,services,started_at,declared_at,resolved_at\n"
        f"{tag}-1,Old outage,SEV1,payment-service,2020-02-03T10:00:00Z,"
        "2020-02-03T10:05:00Z,2020-02-03T10:45:00Z\n"
        f"{tag}-2,Older outage,SEV2,,2020-02-04T10:00:00Z,2020-02-04T10:00:00Z,"
        "2020-02-04T11:00:00Z\n"
    )
    first = cli_sqlite("import", "incidents", str(path))
    assert first.returncode == 0, first.stderr
    assert "2 created, 0 already imported" in first.stdout
    again = cli_sqlite("import", "incidents", str(path), "--json")
    assert json.loads(again.stdout)["skipped"] == 2

    result = cli_sqlite(
        "report",
        "metrics",
        "--since",
        "2020-02-01T00:00:00Z",
        "--until",
        "2020-03-01T00:00:00Z",
        "--json",
    )
    data = json.loads(result.stdout)
    assert data["count"] == 2
    assert data["mttr"]["mean"] == (45 + 60) / 2 * 60  # from started_at (or declared_at)
    table = cli_sqlite(
        "report",
        "metrics",
        "--since",
        "2020-02-01T00:00:00Z",
        "--until",
        "2020-03-01T00:00:00Z",
        "--group-by",
        "severity",
    )
    assert table.returncode == 0 and "MTTR" in table.stdout and "severity SEV1: 1" in table.stdout

    md = cli_sqlite("report", "monthly", "--on", "2020-02-10", "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Incident report, monthly: 2020-02-01 to 2020-02-29 (UTC)")
    html = cli_sqlite("report", "monthly", "--on", "2020-02-10", "--format", "html")
    assert "<svg" in html.stdout


def test_a_bad_row_is_refused_with_its_row_and_field(cli_sqlite: Cli, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            [
                {
                    "external_id": "b-1",
                    "title": "ok",
                    "severity": "SEV2",
                    "declared_at": "2021-01-01T00:00:00Z",
                },
                {
                    "external_id": "b-2",
                    "title": "no zone",
                    "severity": "SEV2",
                    "declared_at": "2021-01-01T00:00:00",
                },
            ]
        )
    )
    result = cli_sqlite("import", "incidents", str(path))
    assert result.returncode == 1
    assert "row 2" in result.stderr and "declared_at" in result.stderr
    assert "nothing was imported" in result.stderr
    wrong = cli_sqlite("import", "incidents", str(tmp_path / "bad.txt"))
    assert wrong.returncode == 2
