"""`schemathesis` against a real warroom server's /openapi.json, with an admin token.

Used by the bounded run in the test suite (tests/e2e/test_fuzz.py) and by `make fuzz`
(`python -m tests.e2e.fuzzing --seconds 300`), which prints the counts: requests, status
codes and 5xx answers. A run fails on any 5xx and on any answer that breaks the schema.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import PG_URL, run_server, scratch_postgres_database

SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]
CHECKS = "not_a_server_error,response_schema_conformance"


@dataclass
class Outcome:
    exit_code: int
    statuses: Counter[int]
    output: str
    # Each 5xx as "METHOD URL body → status: answer", so a failed run says what to replay.
    server_error_requests: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def summary(self, label: str) -> str:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"fuzz {label}: {self.requests} requests; status codes {codes}; "
            f"5xx {self.server_errors}; schemathesis exit {self.exit_code}"
            + "".join(f"\n  {request}" for request in self.server_error_requests)
        )


def fuzz(url: str, token: str, *, seconds: int, examples: int, folder: Path) -> Outcome:
    """Run schemathesis for at most `seconds` against `url`; count what the server answered."""
    har = folder / "fuzz.har"
    command = [
        *SCHEMATHESIS,
        "run",
        f"{url}/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(examples),
        "--max-time",
        str(seconds),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--seed",
        "1",
        "--continue-on-failure",
        # Revoking tokens would revoke the fuzzer's own; every other operation is fuzzed.
        "--exclude-path-regex",
        "^/api/v1/tokens/",
        "--report",
        "har",
        "--report-har-path",
        str(har),
        "--no-color",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
        cwd=folder,  # its cache stays out of the checkout
    )
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    if har.exists():
        for entry in json.loads(har.read_text())["log"]["entries"]:
            status = int(entry["response"]["status"])
            statuses[status] += 1
            if status >= 500:
                request = entry["request"]
                body = (request.get("postData") or {}).get("text", "")[:300]
                answer = (entry["response"].get("content") or {}).get("text", "")[:300]
                errors.append(f"{request['method']} {request['url']} {body} → {status}: {answer}")
    return Outcome(done.returncode, statuses, done.stdout + done.stderr, errors)


def run_on(database: str, *, seconds: int, examples: int) -> Outcome:
    """Start a server on a fresh SQLite or scratch PostgreSQL database and fuzz it."""
    with tempfile.TemporaryDirectory(prefix="warroom-fuzz-") as tmp:
        folder = Path(tmp)
        if database == "sqlite":
            with run_server(f"sqlite:///{folder / 'warroom.db'}", folder) as server:
                return fuzz(
                    server.url, server.token, seconds=seconds, examples=examples, folder=folder
                )
        if not PG_URL:
            raise SystemExit("WARROOM_TEST_DATABASE_URL is not set")
        with scratch_postgres_database(PG_URL) as url, run_server(url, folder) as server:
            return fuzz(server.url, server.token, seconds=seconds, examples=examples, folder=folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    names = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    failed = False
    for name in names:
        if name == "postgresql" and not PG_URL:
            print("fuzz postgresql: skipped (WARROOM_TEST_DATABASE_URL is not set)")
            continue
        try:
            outcome = run_on(name, seconds=args.seconds, examples=args.examples)
        except pytest.fail.Exception as exc:  # the server did not start
            print(f"fuzz {name}: {exc}")
            return 1
        if outcome.exit_code != 0:
            print(outcome.output[-6000:])
        print(outcome.summary(name))
        failed |= outcome.exit_code != 0 or outcome.server_errors > 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
