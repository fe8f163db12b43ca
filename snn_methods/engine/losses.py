"""The losses' old path, kept for `_target_` names: conf/loss/*.yaml and every config saved in a checkpoint name
`snn_methods.engine.losses.<Loss>`. The losses live in snn_methods/losses.py (below the engine, beside the rules
and metrics that decode with `rate`); import them from there."""
from snn_methods.losses import TET, RateCrossEntropy, RateMSE, rate  # noqa: F401
