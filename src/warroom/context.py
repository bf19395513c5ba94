"""What every entry point shares: settings, database, configuration and clock."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from warroom.clock import Clock
from warroom.config.schema import WarroomConfig
from warroom.db import Database
from warroom.settings import Settings

# The kinds of work a wake-up announces (`warroom.engine.wakeup` says who sends which):
# alerts stored or changed (routing has work), and everything else engines act on.
ALERTS = "alerts"
WORK = "work"
EVERY = frozenset({ALERTS, WORK})
#: What new alerts cannot give work to (timers, deliveries, chat) is woken by this.
WORK_ONLY = frozenset({WORK})


class Wakeups:
    """The kinds of work committed since the engine last looked, and an event to wait on.

    `set()` without a kind is WORK: every job runs, as when this was a plain event."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._kinds: set[str] = set()
        self._lock = threading.Lock()
        _LOCAL.add(self)

    def set(self, kind: str = WORK) -> None:
        with self._lock:
            self._kinds.add(kind)
            self._event.set()

    def alerts(self) -> None:
        """Alerts were committed: routing has work."""
        self.set(ALERTS)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def take(self) -> frozenset[str]:
        """The kinds set since the last take, forgotten as they are returned."""
        with self._lock:
            kinds = frozenset(self._kinds)
            self._kinds.clear()
            self._event.clear()
        return kinds

    def pending(self) -> frozenset[str]:
        """The kinds set since the last take, kept for the next one."""
        with self._lock:
            return frozenset(self._kinds)


# Every Wakeups of this process: a commit that notified wakes them at once (on SQLite
# there is no NOTIFY at all, and on PostgreSQL it saves the listener's round trip, so
# that a job later in the same pass sees the work an earlier one committed).
_LOCAL: weakref.WeakSet[Wakeups] = weakref.WeakSet()


def wake_local(kind: str) -> None:
    """Wake every engine of this process for work of this kind."""
    for wakeups in list(_LOCAL):
        wakeups.set(kind)


@dataclass
class AppContext:
    settings: Settings
    db: Database
    config: WarroomConfig
    clock: Clock
    # Set when work commits (alerts, timers, notifications), so that the engine runs the
    # jobs it concerns at once instead of at their next poll.
    wakeups: Wakeups = field(default_factory=Wakeups)

    def __post_init__(self) -> None:
        # Event subscribers run inside sessions and read these from `session.info`.
        self.db.bind_context(config=self.config, base_url=self.settings.base_url, clock=self.clock)
