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
