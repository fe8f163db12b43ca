"""Collapse warnings: a run that trains on but has stopped learning says so, once, in the log and in results.json.

Three signs, read from the epoch records (the same for every method): the connectivity reached 0 (every weight
pruned), the mean firing rate reached 0 (no neuron spikes, so the output carries nothing), or the validation
accuracy stayed at chance for CHANCE_EPOCHS epochs in a row. Each is said once per run (resumes included: the
warnings travel in the checkpoint).
"""
from __future__ import annotations

CHANCE_EPOCHS = 3


def chance_limit(num_classes: int) -> float:
    """The accuracy counted as chance: 1/K plus a little (noise of a small validation set), never near a real result."""
    return 1.0 / num_classes + min(0.02, 0.5 / num_classes)


def check(history: list[dict], num_classes: int, said: list[str]) -> list[str]:
    """The new collapse warnings after the last record of `history` (none already in `said`)."""
    last, found = history[-1], []
    epoch = last["epoch"] + 1
    if last.get("connectivity") is not None and last["connectivity"] <= 0:
        found.append(("collapse: connectivity", f"reached 0 at epoch {epoch}: every weight is pruned"))
    if last.get("firing_rate") is not None and last["firing_rate"] <= 0:
        found.append(("collapse: firing rate", f"reached 0 at epoch {epoch}: no neuron spikes, so the output "
                                                f"carries no information (check neuron.v_threshold, the encoder)"))
    recent = history[-CHANCE_EPOCHS:]
    limit = chance_limit(num_classes) if num_classes and num_classes > 1 else None
    if limit is not None and len(recent) == CHANCE_EPOCHS and all(
            r.get("val_acc") is not None and r["val_acc"] <= limit for r in recent):
        found.append(("collapse: accuracy at chance", f"(val_acc <= {limit:.3f} with {num_classes} classes) for "
                                                       f"epochs {epoch - CHANCE_EPOCHS + 1}-{epoch}"))
    return [f"{head} {text}" for head, text in found if not any(s.startswith(head) for s in said)]
