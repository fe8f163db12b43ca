"""Config checks of the engine's switches (read by snn_methods.config.validate)."""
from snn_methods.engine.compile import BACKENDS, MODES

RULES = [
    ("hardware.compile", lambda v: isinstance(v, bool), "true or false"),
    ("hardware.compile_mode", lambda v: v in MODES, " | ".join(MODES)),
    ("hardware.compile_backend", lambda v: v in BACKENDS, " | ".join(BACKENDS)),
]
