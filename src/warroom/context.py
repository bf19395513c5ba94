"""What every entry point shares: settings, database, configuration and clock."""

from __future__ import annotations

from dataclasses import dataclass

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
