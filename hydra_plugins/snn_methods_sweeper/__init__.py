"""snn-methods' Hydra sweeper. Hydra only accepts plugins from the `hydra_plugins` namespace package."""
