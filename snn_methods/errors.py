"""Errors that mean "the user has something to fix": launch.py prints their message as one line, no traceback."""


class UserError(Exception):
    """Base class: a message that says what is wrong and what to do."""


class ConfigError(UserError, ValueError):
    """A config value is out of range or inconsistent (raised before training starts)."""


class DataError(UserError):
    """A data set is missing or unreadable."""


class CheckpointError(UserError):
    """A checkpoint cannot be used (missing, corrupt, another architecture or config)."""


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
