"""Every figure a run reports is defined here once, with the same meaning for every method."""
from snn_methods.metrics.activity import FiringRateProbe
from snn_methods.metrics.connectivity import connectivity
from snn_methods.metrics.perf import peak_memory_mb, reset_peak_memory
from snn_methods.metrics.synops import ENERGY_PJ, SynOpsProbe

__all__ = ["connectivity", "FiringRateProbe", "SynOpsProbe", "ENERGY_PJ", "peak_memory_mb", "reset_peak_memory"]
