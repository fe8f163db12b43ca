"""The one training loop shared by every method, and the small pieces it is made of."""
