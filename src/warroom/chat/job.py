"""The chat job: claim due chat actions, do them in Slack, record the outcome.

Each action is claimed with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), done outside
any transaction, and finished in a short one. Channel creation saves the channel as soon
as Slack made it, so a retried action never creates a second channel; every later step
(invite, topic, opening message, pin) is safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from warroom.auth.logic import SYSTEM
from warroom.chat import logic
from warroom.chat.adapters import ChatPort, NameTaken, SlackChat
from warroom.chat.models import ChatAction, ChatChannel
from warroom.chat.service import DONE, FAILED, PENDING, channel_of, incident_view, open_key
from warroom.config.schema import WarroomConfig, names_severity
from warroom.context import AppContext
from warroom.engine.models import Notification
from warroom.engine.runner import Job, worker_id
from warroom.engine.wakeup import WORK_ONLY
from warroom.escalation.delivery import resolve_name, role_recipients
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications.ports import (
    PermanentFailure,
    TemporaryFailure,
    is_temporary_status,
    parse_retry_after,
)
from warroom.timeline.logic import EventSource, EventType

log = logging.getLogger("warroom.chat")

MAX_SLEEP = 30.0
MAX_ATTEMPTS = 12
NAME_ATTEMPTS = 20
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(minutes=15)
WAIT_FOR_CHANNEL = timedelta(seconds=5)


class _Later(Exception):
    """Not yet: try again at `at` without counting an attempt."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at)
        self.at = at


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """10 s doubling to 15 min, or Slack's Retry-After when it is longer."""
    delay: timedelta = min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


class ChatRunner:
    """Engine job over `ChatAction` rows, talking through one `ChatPort`."""

    def __init__(
        self,
        port: ChatPort | None,
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._port = port
        self.owner = owner or worker_id()
        self._lease = lease

    @property
    def port(self) -> ChatPort:
        if self._port is None:
            raise PermanentFailure("Slack is not configured (WARROOM_SLACK_TOKEN)")
        return self._port

    def __call__(self, ctx: AppContext) -> float | None:
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            claimed = [(a.id, a.incident_id) for a in self._claim(uow.session, now)]
            upcoming = None
            if not claimed:
                upcoming = uow.session.scalar(
                    select(ChatAction.due_at)
                    .where(ChatAction.status == PENDING)
                    .order_by(ChatAction.due_at)
                    .limit(1)
                )
            uow.commit()
        blocked: set[int] = set()
        for action_id, incident_id in claimed:
            if incident_id is not None and incident_id in blocked:
                self._release(ctx, action_id)
                continue
            if not self._run_one(ctx, action_id) and incident_id is not None:
                blocked.add(incident_id)  # keep an incident's messages in order
        if claimed:
            return 0.0
        if upcoming is None:
            return MAX_SLEEP
        return min(max((upcoming - ctx.clock.now()).total_seconds(), 0.0), MAX_SLEEP)

    def _claim(self, session: Session, now: datetime) -> list[ChatAction]:
        query = (
            select(ChatAction)
            .where(
                ChatAction.status == PENDING,
                ChatAction.due_at <= now,
                or_(ChatAction.lease_until.is_(None), ChatAction.lease_until < now),
            )
            .order_by(ChatAction.id)
            .limit(20)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        actions = list(session.scalars(query))
        for action in actions:
            action.lease_owner = self.owner
            action.lease_until = now + self._lease
        return actions

    def _release(self, ctx: AppContext, action_id: int) -> None:
        with ctx.db.unit_of_work() as uow:
            uow.session.execute(
                update(ChatAction)
                .where(ChatAction.id == action_id, ChatAction.lease_owner == self.owner)
                .values(lease_until=None, lease_owner=None)
            )
            uow.commit()

    def _run_one(self, ctx: AppContext, action_id: int) -> bool:
        """Do one action; return whether it is finished (done or failed for good)."""
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            if action is None or action.lease_owner != self.owner or action.status != PENDING:
                return True
            kind, attempts = action.kind, action.attempts + 1
            uow.commit()
        outcome: dict[str, object]
        try:
            handler = getattr(self, f"_do_{kind}", None)
            if handler is None:
                raise PermanentFailure(f"unknown chat action {kind!r}")
            handler(ctx, action_id)
            outcome = {"status": DONE, "finished_at": now, "last_error": None}
        except _Later as later:
            outcome = {"due_at": later.at, "attempts": attempts - 1}
        except TemporaryFailure as exc:
            if attempts >= MAX_ATTEMPTS:
                outcome = {"status": FAILED, "finished_at": now, "last_error": exc.reason}
            else:
                outcome = {
                    "due_at": now + backoff(attempts, exc.retry_after),
                    "last_error": exc.reason,
                    "attempts": attempts,
                }
            log.warning("chat action %s (%s) will be retried: %s", action_id, kind, exc.reason)
        except PermanentFailure as exc:
            outcome = {
                "status": FAILED,
                "finished_at": now,
                "last_error": exc.reason,
                "attempts": attempts,
            }
            log.error("chat action %s (%s) failed: %s", action_id, kind, exc.reason)
        except Exception as exc:  # a bug or a database hiccup: retried like a Slack error
            log.exception("chat action %s (%s) broke; it will be retried", action_id, kind)
            outcome = {
                "due_at": now + backoff(attempts, None),
                "last_error": f"internal error: {type(exc).__name__}",
                "attempts": attempts,
            }
            if attempts >= MAX_ATTEMPTS:
                outcome.update(status=FAILED, finished_at=now)
        outcome.setdefault("attempts", attempts)
        with ctx.db.unit_of_work() as uow:
            uow.session.execute(
                update(ChatAction)
                .where(ChatAction.id == action_id, ChatAction.lease_owner == self.owner)
                .values(lease_until=None, lease_owner=None, **outcome)
            )
            uow.commit()
        return outcome.get("status") in (DONE, FAILED)

    # --- the actions ------------------------------------------------------------------------

    def _do_open(self, ctx: AppContext, action_id: int) -> None:
        config = ctx.config.chat.slack
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None and action.incident_id is not None
            incident = uow.session.get(Incident, action.incident_id)
            if incident is None:
                return
            incident_id = incident.id
            channel = channel_of(uow.session, incident_id)
            channel_id = channel.channel_id if channel else None
            opening_ts = channel.opening_ts if channel else None
            name = logic.channel_name(
                config.channel_name,
                number=incident.id,
                # A drill's channel says so: inc-42-drill-primary-database-down.
                title=f"drill {incident.title}" if incident.drill_id else incident.title,
                severity=incident.severity,
                at=incident.declared_at,
            )
            private = incident.restricted and config.private_for_restricted
            people = _slack_people(uow.session, ctx.config, incident, ctx.clock.now())
            view = incident_view(ctx.config, incident, ctx.settings.base_url)
        if channel_id is None:
            channel_id, name = self._create(name, private=private)
            with ctx.db.unit_of_work() as uow:
                uow.session.add(
                    ChatChannel(
                        incident_id=incident_id,
                        channel_id=channel_id,
                        name=name,
                        created_at=ctx.clock.now(),
                    )
                )
                incidents.record(
                    uow.session,
                    incident=_incident(uow.session, incident_id),
                    type=EventType.COMMUNICATION,
                    description=f"Slack channel #{name} opened",
                    now=ctx.clock.now(),
                    actor=SYSTEM.actor,
                    source=EventSource.AUTOMATION,
                    details={"channel": channel_id, "name": name},
                )
                uow.commit()
        members = {handle: self.port.user_id(address) for handle, address in people.items()}
        self.port.invite(channel_id, list(dict.fromkeys(m for m in members.values() if m)))
        with ctx.db.unit_of_work() as uow:
            # Who is in now: a later invitation of theirs (a page, a role) asks Slack nothing.
            opener = uow.session.get(ChatAction, action_id)
            assert opener is not None
            opener.payload = {
                **opener.payload,
                "invited": sorted(h for h, m in members.items() if m),
            }
            uow.commit()
        self.port.set_topic(channel_id, logic.topic(view))
        if opening_ts is None:
            opening_ts = self.port.post(
                channel_id, logic.opening_text(view), logic.opening_blocks(view)
            )
            with ctx.db.unit_of_work() as uow:
                saved = channel_of(uow.session, incident_id)
                assert saved is not None
                saved.opening_ts = opening_ts
                uow.commit()
        if config.pin_opening_message and opening_ts:
            self.port.pin(channel_id, opening_ts)

    def _create(self, name: str, *, private: bool) -> tuple[str, str]:
        for attempt in range(1, NAME_ATTEMPTS + 1):
            candidate = logic.with_suffix(name, attempt)
            try:
                return self.port.create_channel(candidate, private=private), candidate
            except NameTaken:
                continue
        raise PermanentFailure(f"every channel name from {name} to -{NAME_ATTEMPTS} is taken")

    def _channel_or_wait(self, ctx: AppContext, session: Session, action: ChatAction) -> str | None:
        """The incident's channel id; wait while it is being opened; None if it never will."""
        assert action.incident_id is not None
        channel = channel_of(session, action.incident_id)
        if channel is not None:
            return None if channel.archived_at is not None else channel.channel_id
        opener = session.scalar(
            select(ChatAction).where(ChatAction.key == open_key(action.incident_id))
        )
        if opener is not None and opener.status == PENDING:
            raise _Later(max(opener.due_at, ctx.clock.now() + WAIT_FOR_CHANNEL))
        return None

    def _do_post(self, ctx: AppContext, action_id: int) -> None:
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None and action.incident_id is not None
            channel_id = self._channel_or_wait(ctx, uow.session, action)
            if channel_id is None:
                return
            text = str(action.payload.get("text") or "")
            refresh = bool(action.payload.get("refresh"))
            action_invite = action.payload.get("invite")
            incident = _incident(uow.session, action.incident_id)
            view = incident_view(ctx.config, incident, ctx.settings.base_url)
            channel = channel_of(uow.session, incident.id)
            opening_ts = channel.opening_ts if channel else None
        invitee = ctx.config.user(str(action_invite)) if action_invite else None
        if invitee is not None and invitee.slack:
            member = self.port.user_id(invitee.slack)
            if member:
                self.port.invite(channel_id, [member])
        self.port.post(channel_id, text)
        if refresh:
            self.port.set_topic(channel_id, logic.topic(view))
            if opening_ts:
                self.port.update(
                    channel_id, opening_ts, logic.opening_text(view), logic.opening_blocks(view)
                )

    def _do_invite(self, ctx: AppContext, action_id: int) -> None:
        """Invite one person (paged by a later step, or given a role) to the channel."""
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None and action.incident_id is not None
            channel_id = self._channel_or_wait(ctx, uow.session, action)
            handle = str(action.payload.get("user") or "")
            opener = uow.session.scalar(
                select(ChatAction).where(ChatAction.key == open_key(action.incident_id))
            )
            invited = opener.payload.get("invited", []) if opener is not None else []
        user = ctx.config.user(handle)
        if channel_id is None or handle in invited or user is None or not user.slack:
            return  # no channel, in it since it opened, or nobody to invite in Slack
        member = self.port.user_id(user.slack)
        if member:
            self.port.invite(channel_id, [member])

    def _do_archive(self, ctx: AppContext, action_id: int) -> None:
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None and action.incident_id is not None
            incident_id = action.incident_id
            channel_id = self._channel_or_wait(ctx, uow.session, action)
            incident = _incident(uow.session, incident_id)
            if channel_id is None or incident.status not in ("resolved", "closed"):
                return  # reopened since: the channel stays
        self.port.archive(channel_id)
        with ctx.db.unit_of_work() as uow:
            channel = channel_of(uow.session, incident_id)
            if channel is not None:
                channel.archived_at = ctx.clock.now()
            uow.commit()

    def _do_capture(self, ctx: AppContext, action_id: int) -> None:
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None
            channel_id = str(action.payload["channel"])
            ts = str(action.payload["ts"])
        message = self.port.message(channel_id, ts)
        if message is None:
            raise PermanentFailure(f"message {ts} is not in channel {channel_id}")
        link = self.port.permalink(channel_id, ts)
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None and action.incident_id is not None
            if action.status != PENDING:
                return
            incident = _incident(uow.session, action.incident_id)
            author = self._person(ctx.config, message.user) or (
                f"slack:{message.user}" if message.user else None
            )
            incidents.record(
                uow.session,
                incident=incident,
                type=EventType.NOTE,
                description=message.text[:4000] or "(empty message)",
                now=ctx.clock.now(),
                actor=author,
                source=EventSource.HUMAN,
                timestamp=_ts_time(ts) or ctx.clock.now(),
                details={
                    "slack": {
                        "channel": channel_id,
                        "ts": ts,
                        "permalink": link,
                        "marked_by": action.payload.get("marked_by"),
                    }
                },
            )
            # Done in the timeline's own transaction: the message lands exactly once.
            action.status, action.finished_at = DONE, ctx.clock.now()
            uow.commit()

    def _person(self, config: WarroomConfig, slack_user: str | None) -> str | None:
        """The warroom user behind a Slack member id, also when configured as `@name`."""
        if not slack_user:
            return None
        found = person_for_slack(config, slack_user, "")
        if found is not None:
            return found
        for user in config.users:
            address = (user.slack or "").strip()
            if address.startswith("@") and self.port.user_id(address) == slack_user:
                return user.handle
        return None

    def _do_mattermost(self, ctx: AppContext, action_id: int) -> None:
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None
            url, text = str(action.payload["url"]), str(action.payload["text"])
        try:
            response = httpx.post(url, json={"text": text, "username": "warroom"}, timeout=10.0)
        except httpx.HTTPError as exc:
            # The URL is the webhook's secret: never in a reason that is stored or logged.
            raise TemporaryFailure(f"cannot reach Mattermost: {type(exc).__name__}") from None
        if response.status_code == 200:
            return
        reason = f"Mattermost answered HTTP {response.status_code}"
        if is_temporary_status(response.status_code):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise TemporaryFailure(reason, retry_after=retry_after)
        raise PermanentFailure(reason)

    def _do_uncapture(self, ctx: AppContext, action_id: int) -> None:
        with ctx.db.unit_of_work() as uow:
            action = uow.session.get(ChatAction, action_id)
            assert action is not None and action.incident_id is not None
            incident = _incident(uow.session, action.incident_id)
            slack_user = str(action.payload.get("unmarked_by") or "")
            who = self._person(ctx.config, slack_user) or f"slack:{slack_user or '?'}"
            incidents.record(
                uow.session,
                incident=incident,
                type=EventType.NOTE,
                description=f"Slack message {action.payload.get('ts')} unmarked by {who}; "
                "its timeline entry stays",
                now=ctx.clock.now(),
                actor=str(who),
                source=EventSource.HUMAN,
                details={"slack": dict(action.payload)},
            )
            action.status, action.finished_at = DONE, ctx.clock.now()
            uow.commit()


def _incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise PermanentFailure(f"incident {incident_id} no longer exists")
    return incident


def _ts_time(ts: str) -> datetime | None:
    from datetime import UTC

    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (ValueError, OverflowError):
        return None


def person_for_slack(config: WarroomConfig, user_id: str, user_name: str) -> str | None:
    """The warroom handle of a Slack member: by `slack:` id or @name, else by handle."""
    for user in config.users:
        slack = (user.slack or "").strip()
        if slack and (slack == user_id or (user_name and slack.lstrip("@") == user_name)):
            return user.handle
    return None


def invited_handles(
    session: Session, config: WarroomConfig, incident: Incident, at: datetime
) -> list[str]:
    """Whom the severity's `chat.slack.invite` names stand for: a role's holder, an
    `escalation_targets` entry, a user, a team's members, a schedule's on-call at `at`."""
    handles: list[str] = []
    named = [
        name
        for severity, names in config.chat.slack.invite.items()
        if names_severity(config, [severity], incident.severity)
        for name in names
    ]
    for name in named:
        if name in config.roles and config.user(name) is None:
            found, _ = role_recipients(incident, name)
        else:
            found, _ = resolve_name(session, config, incident, name, at)
        handles += [r.user for r in found if r.user]
    return handles


def _slack_people(
    session: Session, config: WarroomConfig, incident: Incident, at: datetime
) -> dict[str, str]:
    """Handle → Slack address of the incident's people: roles, participants, the severity's
    `invite` list, those paged so far."""
    handles = [r.user for r in incident.roles] + [p.user for p in incident.participants]
    handles += invited_handles(session, config, incident, at)
    handles += [
        h
        for h in session.scalars(
            select(Notification.recipient).where(
                Notification.incident_id == incident.id, Notification.recipient.is_not(None)
            )
        )
        if h
    ]
    people = {}
    for handle in dict.fromkeys(handles):
        user = config.user(handle)
        if user is not None and user.slack:
            people[handle] = user.slack
    return people


class InBackground:
    """Run a job's passes on a thread of their own, so that a slow or hanging Slack never
    holds up the engine loop (escalations, pages); the engine only starts passes."""

    def __init__(self, job: Callable[[AppContext], float | None], name: str = "chat") -> None:
        self._job = job
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"warroom-{name}")
        self._running: Future[None] | None = None

    def __call__(self, ctx: AppContext) -> float | None:
        if self._running is None or self._running.done():
            self._running = self._pool.submit(self._passes, ctx)
        return None  # the engine's poll; a wake-up starts the next pass sooner

    def _passes(self, ctx: AppContext) -> None:
        for _ in range(100):  # while there is more to do, a bounded number of passes
            try:
                if self._job(ctx) != 0.0:
                    return
            except Exception:
                log.exception("chat pass failed; the next one retries")
                return

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def chat_jobs(ctx: AppContext, lease: timedelta) -> list[Job]:
    """The chat job when Slack (WARROOM_SLACK_TOKEN) or Mattermost is configured, else none."""
    token = ctx.settings.slack_token
    port = None
    if token is not None and ctx.config.chat.slack.enabled:
        port = SlackChat(token=token.get_secret_value(), base_url=ctx.settings.slack_base_url)
    if token is None and ctx.config.chat.slack.enabled:
        log.warning(
            "chat.slack.enabled is true but WARROOM_SLACK_TOKEN is not set: incident channels "
            "wait in the chat outbox until it is"
        )
    if port is None and not ctx.config.chat.mattermost_webhooks:
        return []
    background = InBackground(ChatRunner(port, lease=lease))
    return [Job("chat", background, close=background.close, wake_on=WORK_ONLY)]
