"""Model registry. Every module in this package is imported here, so a new model is a new file whose
functions carry `@register_model` (plus a YAML file in conf/model/)."""
import importlib
import pkgutil

from snn_methods.models.registry import create_model, list_models, register_model

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("registry", "layers"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["create_model", "list_models", "register_model"]
