"""DSR's ANN -> SNN recipe: a config with a `pipeline` node (conf/experiment/dsr_imagenet_*.yaml) runs one stage,
chosen by the top-level `stage` key, or all of them in one run directory (`stage=all`). The package sits beside
the engine and uses it (build, one training run); the api calls it (`snn_methods.api.execute`), never the reverse.

DSR's ImageNet hybrid training (spec dsr_asgl.md A.6) is the one recipe so far:
  ann       train the ANN twin (neuron=relu, T=1) with its own recipe           -> RUN/last.pt
  calibrate 99.9th percentile of every ReLU's output on a few images (eval mode) -> RUN/thresholds.json
  snn       thresholds from the calibration, weights from the ANN, SNN recipe    -> RUN/last.pt
Each stage is an ordinary training run (`engine.training.train`; calibrate aside) on the top-level config with the
entries of `pipeline.<stage>` put in place; stages read their inputs from `pipeline.ann_checkpoint` and
`pipeline.thresholds`, which `stage=all` fills with its own artefacts.
"""
from snn_methods.ann2snn.runner import CHAIN, STAGES, run_stages, stage_config

__all__ = ["CHAIN", "STAGES", "run_stages", "stage_config"]
