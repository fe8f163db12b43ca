"""TensorBoard event files in <run dir>/tensorboard."""
from __future__ import annotations

import json
from pathlib import Path

from snn_methods.loggers.base import Logger, flatten_numeric


class TensorBoardLogger(Logger):
    def __init__(self, subdir: str = "tensorboard"):
        self.subdir = subdir
        self.writer = None

    def start(self, run_dir: Path, config: dict, meta: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: TensorBoard drops the earlier files' events from this step on (epochs logged after the
        # checkpoint a resume starts from, or a whole earlier attempt when the run starts over)
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / self.subdir), purge_step=meta.get("resumed_epoch", 0))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```", 0)

    def log_metrics(self, metrics: dict, step: int) -> None:
        for key, value in flatten_numeric(metrics).items():
            self.writer.add_scalar(key, value, step)

    def log_summary(self, results: dict) -> None:
        summary = {k: results[k] for k in ("final", "best") if k in results}
        for key, value in flatten_numeric(summary).items():
            self.writer.add_scalar(f"summary/{key}", value, 0)

    def close(self, success: bool) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
