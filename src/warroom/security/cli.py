"""`warroom evidence …`, `warroom breach …` and `warroom audit …`: the security commands.

They talk to a server through the API, like the incident commands. Files stream both
ways: an upload is read from disk chunk by chunk, a download is written as it arrives
and checked against the SHA-256 the server recorded at intake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from warroom.client import DEFAULT_TIMEOUT, DEFAULT_URL
from warroom.client import _api_error as api_error
from warroom.terminal.options import IncidentArg, JsonOpt, TokenOpt, UrlOpt
from warroom.terminal.output import API, api, err, fail, out, print_json

ReasonOpt = Annotated[str, typer.Option("--reason", "-r", help="Why: goes on the custody chain.")]

#: The three groups, registered with the top-level command line as one.
app = typer.Typer()

evidence_app = typer.Typer(
    help="The evidence locker: add, list, fetch and verify an incident's evidence.",
    no_args_is_help=True,
)


def _http(url: str, token: str | None) -> httpx.Client:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=DEFAULT_TIMEOUT)


def _file_chunks(path: Path, size: int = 256 * 1024) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(size):
            yield chunk


@evidence_app.command("add")
def add(
    incident: IncidentArg,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="The file to preserve (omit with --text).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    reason: ReasonOpt = "",
    text: Annotated[str | None, typer.Option("--text", help="Text evidence instead.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name (default: file name).")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a file (streamed, never read whole) or text as evidence of an incident."""
    if not reason.strip():
        fail("--reason is required: say why this is evidence", code=2)
    if (file is None) == (text is None):
        fail("give a FILE or --text, not both or neither", code=2)
    path = f"{API}/incidents/{incident}/evidence"
    try:
        with _http(url, token) as http:
            if file is not None:
                response = http.post(
                    path,
                    params={"name": name or file.name, "reason": reason},
                    content=_file_chunks(file),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(file.stat().st_size),
                    },
                    timeout=httpx.Timeout(600.0, connect=5.0),
                )
            else:
                body = {"text": text, "reason": reason, **({"name": name} if name else {})}
                response = http.post(path, json=body)
    except httpx.TransportError as exc:
        fail(f"cannot reach warroom at {url} ({exc})")
    if response.is_error:
        fail(api_error(response).describe())
    item = response.json()
    if file is not None:
        local = hashlib.sha256()
        for chunk in _file_chunks(file):
            local.update(chunk)
        if local.hexdigest() != item["sha256"]:
            fail(f"the server recorded SHA-256 {item['sha256']}, the file is {local.hexdigest()}")
    if as_json:
        print_json(item)
        return
    out.print(
        f"E-{item['id']} added to {escape(incident)}: {escape(item['name'])}, "
        f"{item['size']} bytes, SHA-256 {item['sha256']}"
    )


@evidence_app.command("list")
def list_evidence(
    incident: IncidentArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List an incident's evidence."""
    with api(url, token) as client:
        items = client.get(f"{API}/incidents/{incident}/evidence")
    if as_json:
        print_json(items)
        return
    table = Table("id", "name", "bytes", "sha-256", "added by", "added", "reason")
    for i in items:
        table.add_row(
            f"E-{i['id']}", escape(i["name"]), str(i["size"]), i["sha256"][:16] + "…",
            escape(i["added_by"]), i["added_at"], escape(i["reason"]),
        )  # fmt: skip
    out.print(table)


@evidence_app.command("get")
def get(
    incident: IncidentArg,
    evidence_id: Annotated[str, typer.Argument(metavar="EVIDENCE", help="E-3 or 3.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write it.")],
    reason: ReasonOpt = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Download evidence to a file, checking it against its intake SHA-256."""
    if not reason.strip():
        fail("--reason is required: the download goes on the custody chain", code=2)
    number = evidence_id.upper().removeprefix("E-")
    path = f"{API}/incidents/{incident}/evidence/{number}/content"
    digest = hashlib.sha256()
    partial = output.with_name(output.name + ".partial")
    try:
        with (
            _http(url, token) as http,
            http.stream("GET", path, params={"reason": reason}) as response,
        ):
            if response.is_error:
                response.read()
                fail(api_error(response).describe())
            expected = response.headers.get("x-evidence-sha256", "")
            with partial.open("wb") as sink:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    sink.write(chunk)
    except httpx.TransportError as exc:
        partial.unlink(missing_ok=True)
        fail(f"the download failed ({exc}); nothing was written")
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        fail(f"the content's SHA-256 is {digest.hexdigest()}, recorded at intake {expected}")
    partial.replace(output)
    out.print(f"E-{number} written to {escape(str(output))} (SHA-256 {expected}, verified)")


@evidence_app.command("verify")
def verify(
    incident: IncidentArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove nothing was altered or removed: exit 1 and name what was, if anything."""
    with api(url, token) as client:
        report = client.get(f"{API}/incidents/{incident}/evidence/verify")
    if as_json:
        print_json(report)
    elif report["ok"]:
        out.print(
            f"{escape(incident)}: {len(report['items'])} evidence item(s) and "
            f"{report['custody_entries']} custody entries intact"
        )
    else:
        for problem in report["problems"]:
            err.print(f"TAMPERED {escape(problem)}")
    if not report["ok"]:
        raise typer.Exit(1)


@evidence_app.command("custody")
def custody(
    incident: IncidentArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The chain of custody: who did what with which evidence, when and why."""
    with api(url, token) as client:
        entries = client.get(f"{API}/incidents/{incident}/custody")
    if as_json:
        print_json(entries)
        return
    table = Table("#", "when", "who", "action", "evidence", "why")
    for e in entries:
        table.add_row(
            str(e["seq"]), e["at"], escape(e["actor"]), e["action"],
            f"E-{e['evidence_id']}" if e["evidence_id"] else "", escape(e["reason"]),
        )  # fmt: skip
    out.print(table)


breach_app = typer.Typer(
    help="Personal-data breaches: regulatory clocks, notifications, drafts.", no_args_is_help=True
)


def _print_breach(breach: dict[str, Any]) -> None:
    out.print(
        f"{escape(breach['incident'])}: personal-data breach, aware since {breach['aware_at']}"
    )
    table = Table("regime", "notify", "deadline", "left", "state", "notified")
    for c in breach["clocks"]:
        left = int(c["seconds_left"])
        hours, rest = divmod(abs(left), 3600)
        table.add_row(
            c["regime"], escape(c["recipient"]), c["deadline"],
            f"{'-' if left < 0 else ''}{hours}h {rest // 60:02d}m", c["state"],
            f"{c['notified_at']} by {escape(c['notified_by'])}" if c["notified_at"] else "",
        )  # fmt: skip
    out.print(table)
    for item in breach["checklist"]:
        out.print(f"[{'x' if item['done'] else ' '}] {escape(item['step'])}")


@breach_app.command("mark")
def mark(
    incident: IncidentArg,
    aware_at: Annotated[
        str, typer.Option("--aware-at", help="When the organisation became aware (ISO 8601).")
    ],
    regime: Annotated[
        list[str], typer.Option("--regime", help="gdpr, nis2, … (repeat; default gdpr).")
    ] = [],  # noqa: B006
    nature: Annotated[str, typer.Option("--nature", help="What happened.")] = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark an incident as a personal-data breach: its regulatory clocks start."""
    body = {"aware_at": aware_at, "regimes": regime or ["gdpr"], "nature": nature}
    with api(url, token) as client:
        breach = client.post(f"{API}/incidents/{incident}/breach", body)
    print_json(breach) if as_json else _print_breach(breach)


@breach_app.command("show")
def show(
    incident: IncidentArg,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The clocks (time left, state), who notified whom when, and the checklist."""
    with api(url, token) as client:
        breach = client.get(f"{API}/incidents/{incident}/breach")
    print_json(breach) if as_json else _print_breach(breach)


@breach_app.command("notified")
def notified(
    incident: IncidentArg,
    regime: Annotated[str, typer.Argument(help="The regime, e.g. gdpr.")],
    obligation: Annotated[str, typer.Argument(help="The obligation, e.g. authority.")],
    reference: Annotated[str | None, typer.Option("--reference", help="Case number…")] = None,
    sent_at: Annotated[str | None, typer.Option("--sent-at", help="Default: now.")] = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a notification was sent: its clock stops."""
    body = {"regime": regime, "obligation": obligation, "reference": reference, "sent_at": sent_at}
    with api(url, token) as client:
        breach = client.post(
            f"{API}/incidents/{incident}/breach/notifications",
            {k: v for k, v in body.items() if v is not None},
        )
    print_json(breach) if as_json else _print_breach(breach)


@breach_app.command("draft")
def draft(
    incident: IncidentArg,
    regime: Annotated[str, typer.Argument(help="The regime, e.g. gdpr.")],
    obligation: Annotated[str, typer.Argument(help="The obligation, e.g. authority.")],
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Print a draft notification filled from the incident."""
    with api(url, token) as client:
        data = client.get(f"{API}/incidents/{incident}/breach/drafts/{regime}/{obligation}")
    typer.echo(data["text"])


audit_app = typer.Typer(help="The hash-chained audit log (admin).", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(
    url: UrlOpt = DEFAULT_URL, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Walk the audit chain: exit 1 and name every changed or deleted entry."""
    with api(url, token) as client:
        report = client.get(f"{API}/audit/verify")
    if as_json:
        print_json(report)
    elif report["ok"]:
        out.print(f"audit log intact: {report['entries']} entries")
    else:
        for problem in report["problems"]:
            err.print(f"TAMPERED audit {escape(problem)}")
    if not report["ok"]:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Prefix, e.g. incidents.")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Prefix, e.g. incidents:42")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Audit entries, newest first."""
    params = {"actor": actor, "action": action, "target": target, "limit": limit}
    with api(url, token) as client:
        page = client.get(f"{API}/audit", params=params)
    if as_json:
        print_json(page)
        return
    table = Table("#", "when", "who", "action", "target")
    for e in page["items"]:
        table.add_row(str(e["seq"]), e["at"], escape(e["actor"]), e["action"], escape(e["target"]))
    out.print(table)


@evidence_app.command("hold")
def hold(
    incident: IncidentArg,
    reason: ReasonOpt = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Place an incident's evidence under legal hold: nothing is purged until released."""
    if not reason.strip():
        fail("--reason is required", code=2)
    with api(url, token) as client:
        row = client.put(f"{API}/incidents/{incident}/legal-hold", {"reason": reason})
    out.print(
        f"{escape(incident)} under legal hold since {row['held_at']} ({escape(row['held_by'])})"
    )


@evidence_app.command("release")
def release(
    incident: IncidentArg,
    reason: ReasonOpt = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Release a legal hold (admins only)."""
    if not reason.strip():
        fail("--reason is required", code=2)
    with api(url, token) as client:
        client.delete(f"{API}/incidents/{incident}/legal-hold?{urlencode({'reason': reason})}")
    out.print(f"{escape(incident)}: legal hold released")


@evidence_app.command("purge")
def purge(
    incident: IncidentArg,
    evidence_id: Annotated[str, typer.Argument(metavar="EVIDENCE", help="E-3 or 3.")],
    reason: ReasonOpt = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
) -> None:
    """Purge an item's content (admins only; refused under legal hold); the record stays."""
    if not reason.strip():
        fail("--reason is required", code=2)
    number = evidence_id.upper().removeprefix("E-")
    with api(url, token) as client:
        client.delete(
            f"{API}/incidents/{incident}/evidence/{number}?{urlencode({'reason': reason})}"
        )
    out.print(f"E-{number} purged; its record and custody remain")


app.add_typer(evidence_app, name="evidence")
app.add_typer(breach_app, name="breach")
app.add_typer(audit_app, name="audit")
