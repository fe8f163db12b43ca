"""Loggers receive the config, per-epoch metrics and the final summary; they are always closed, even on failure."""
from snn_methods.loggers.base import Logger, LoggerGroup, flatten_numeric
from snn_methods.loggers.tensorboard import TensorBoardLogger
from snn_methods.loggers.wandb import WandbLogger

__all__ = ["Logger", "LoggerGroup", "TensorBoardLogger", "WandbLogger", "flatten_numeric"]
