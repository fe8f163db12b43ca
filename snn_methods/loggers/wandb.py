"""Weights & Biases: offline unless you are logged in; `finish()` always runs."""
from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from urllib.parse import urlparse

from snn_methods.loggers.base import Logger, flatten_numeric

log = logging.getLogger(__name__)


def logged_in() -> bool:
    """True when an API key is configured: WANDB_API_KEY, or a netrc entry for the W&B host (`wandb login`)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def auto_mode() -> str:
    """offline inside a SLURM job (compute nodes often have no internet: `wandb sync` the run later), else
    online when logged in, else offline."""
    if os.environ.get("SLURM_JOB_ID"):
        return "offline"
    return "online" if logged_in() else "offline"


def drop_foreign_service() -> None:
    """A WANDB_SERVICE inherited from the submitting process (sbatch exports the environment) points to a
    wandb-core service that is not running here: every run of the job would fail to start and lose its config
    and summary. Keep the variable only while the process that started that service is alive on this machine."""
    token = os.environ.get("WANDB_SERVICE")
    if not token:
        return
    try:
        pid = int(token.split("-")[1])
        os.kill(pid, 0)
    except (IndexError, ValueError, ProcessLookupError):
        log.info("ignoring WANDB_SERVICE=%s: its service does not run on this machine", token)
        os.environ.pop("WANDB_SERVICE")
    except PermissionError:   # alive, another user's: not ours either
        os.environ.pop("WANDB_SERVICE")


class WandbLogger(Logger):
    def __init__(self, project: str = "snn-methods", entity: str | None = None, mode: str = "auto",
                 group: str | None = None, tags: list[str] | tuple[str, ...] = ()):
        self.project, self.entity, self.group, self.tags = project, entity, group, list(tags)
        self.mode = auto_mode() if mode == "auto" else mode
        self.run = None

    def start(self, run_dir: Path, config: dict, meta: dict) -> None:
        try:
            import wandb
        except ImportError:  # optional integration: warn, never fail the run
            log.warning("wandb is not installed: W&B logging is off (pip install wandb)")
            return
        os.environ.setdefault("WANDB_SILENT", "true")
        drop_foreign_service()
        tags = [t for t in (meta.get("method"), meta.get("model"), meta.get("dataset")) if t] + self.tags
        self.run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(run_dir),
                              config=config, group=self.group or meta.get("sweep"), name=meta.get("name"),
                              tags=tags, job_type="train", reinit="finish_previous",
                              # a resumed run continues its W&B run (offline: `wandb sync` joins the parts)
                              id=meta.get("run_id"), resume="allow" if meta.get("run_id") else None)
        log.info("W&B run %s (%s)", self.run.name if self.run else None, self.mode)

    def log_metrics(self, metrics: dict, step: int) -> None:
        if self.run is not None:
            self.run.log(flatten_numeric(metrics), step=step)

    def log_summary(self, results: dict) -> None:
        if self.run is not None:
            for key, value in flatten_numeric({k: results[k] for k in ("final", "best") if k in results}).items():
                self.run.summary[key] = value
            self.run.summary["wall_time_s"] = results.get("wall_time_s")

    def close(self, success: bool) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if success else 1)
            self.run = None
