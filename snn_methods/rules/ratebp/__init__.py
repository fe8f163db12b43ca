"""Rate-based backpropagation (spec ratebp.md): the rule, the neurons it can train, its batch norm."""
from snn_methods.rules.ratebp.neurons import Dynamics, UnsupportedNeuron, dynamics_of, register_dynamics
from snn_methods.rules.ratebp.rule import RateBP

__all__ = ["RateBP", "Dynamics", "UnsupportedNeuron", "dynamics_of", "register_dynamics"]
