"""One logger run per training run: the id W&B (and any logger) uses, kept in the run directory (`.run_id`) so that
every resume -- after Ctrl-C, kill -9, a preemption, a requeue -- continues the same W&B run instead of starting
another with the same name; a run that starts from scratch (no checkpoint: a new directory, resume=never) gets a
new one."""
from __future__ import annotations

import secrets
from pathlib import Path

ID_FILE = ".run_id"


def stable_run_id(run_dir: Path, fresh: bool) -> str:
    path = Path(run_dir) / ID_FILE
    if not fresh:
        try:
            found = path.read_text().strip()
            if found.isalnum():
                return found
        except OSError:
            pass
    new = secrets.token_hex(4)     # W&B ids: letters and digits
    path.write_text(new + "\n")
    return new
