"""What every entry point shares: settings, database, configuration and clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from warroom.clock import Clock
from warroom.config.schema import WarroomConfig
from warroom.db import Database
from warroom.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    config: WarroomConfig
    clock: Clock
    # Set after alerts commit, so routing runs at once instead of at its next poll.
    alerts_committed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        # Event subscribers run inside sessions and read these from `session.info`.
        self.db.bind_context(config=self.config, base_url=self.settings.base_url, clock=self.clock)
