"""The engine job that keeps the published status page current.

Each pass reads one small fingerprint (the change version and the maintenance windows);
when it moved since the last render, or a maintenance boundary or midnight has come, it
renders the whole public surface again. Bursts coalesce by themselves: ten updates that
land between two passes make one render.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from warroom.context import AppContext
from warroom.statuspage.publish import VERSION_FILE, Published, fingerprint, publish, status_dir

log = logging.getLogger("warroom.statuspage")

# Polled this often at most; a published update is on the page within about a second.
POLL_SECONDS = 1.0


@dataclass
class StatusPagePublisher:
    last: Published | None = field(default=None)

    def __call__(self, ctx: AppContext) -> float:
        """Render the page when something public changed; return how long to sleep."""
        now = ctx.clock.now()
        with ctx.db.unit_of_work() as uow:
            marker = fingerprint(uow.session)
        missing = not (status_dir(ctx) / VERSION_FILE).is_file()
        if (
            self.last is None
            or missing
            or marker != self.last.fingerprint
            or now >= self.last.next_render
        ):
            self.last = publish(ctx)
            log.info("status page published (version %s)", self.last.fingerprint[0])
        return POLL_SECONDS
