"""A started server holds only what it uses: the heavy libraries behind rare features (PDF,
Alembic, evidence encryption, iCalendar) load on first use, not with the application.

Each costs megabytes of resident memory for the server's life (fpdf2 with Pillow and fontTools
~30 MB, Alembic with Mako ~10 MB, cryptography ~8 MB, icalendar ~3 MB; docs/benchmarks.md,
`python -m bench idle_rss`), so a module-level import of one of them anywhere on the app's
import graph fails here. Run in a fresh interpreter, since the test session imports them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

LAZY = ("fpdf", "PIL", "fontTools", "alembic", "mako", "cryptography", "icalendar")


def _loaded_after(statement: str) -> set[str]:
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_the_app_and_the_cli_import_no_heavy_library() -> None:
    loaded = _loaded_after("import warroom.app, warroom.cli, warroom.jobs")
    assert "warroom" in loaded and "fastapi" in loaded  # the import really happened
    assert loaded.isdisjoint(LAZY), sorted(loaded & set(LAZY))


def test_a_pdf_still_renders_after_the_lazy_import() -> None:
    code = (
        "from warroom.postmortems.pdf import _Writer\n"
        "w = _Writer(); w.heading('x'); w.table([['a', 'b'], ['c', 'd']], (20, 20))\n"
        "print(bytes(w.pdf.output())[:5].decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "%PDF-"
