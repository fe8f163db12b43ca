"""Model registry; importing this package registers every model module below."""
from snn_methods.models.registry import create_model, list_models, register_model
from snn_methods.models import cifar, mlp, sew, vgg  # noqa: F401  (registration)

__all__ = ["create_model", "list_models", "register_model"]
