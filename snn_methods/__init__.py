"""snn-methods: train spiking neural networks with published methods from one Hydra config tree.

Python API (the same overrides as the command line)::

    from snn_methods import compose, build, run
    cfg = compose(["method=bptt", "dataset=digits"])
    exp = build(cfg)        # exp.model, exp.optimizer, exp.scheduler, exp.neuron, exp.rule, exp.pruning, exp.data
    results = run(cfg)      # trains; returns the dict written to results.json
"""

__version__ = "0.1.0"

from snn_methods.api import Experiment, build, compose, run  # noqa: E402

__all__ = ["compose", "build", "run", "Experiment", "__version__"]
