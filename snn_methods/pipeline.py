"""The old name of snn_methods.ann2snn (DSR's ANN -> SNN recipe), kept for one `_target_` name only: the presets
dsr_imagenet_* and the configs saved in their checkpoints name `snn_methods.pipeline.ann_to_snn.InitFromANN`.
Hydra resolves it attribute by attribute, so this module needs only `ann_to_snn`. Import snn_methods.ann2snn."""
from snn_methods.ann2snn import convert as ann_to_snn  # noqa: F401
