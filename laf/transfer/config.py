"""The parameters of domain transfer (Algorithm 1), checked before any training; the pipeline
config's ``domain_transfer`` section and the DomainTransfer component default to these."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping, Tuple

from laf.errors import UserError
from laf.transfer.thresholds import check_something_kept


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Parameters of Algorithm 1; the heads are trained from a fresh seeded init every round."""

    theta1: float = 0.1               # keep image I if CNN_v(I)[a_I] > theta1 (the pipeline config's default)
    theta2: float = 0.1               # keep frame V if CNN_i(V)[a_V] > theta2
    max_rounds: int = 3
    hidden_units: Tuple[int, ...] = (256,)
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    min_images_per_class: int = 5     # class floor for images (the paper is silent; see apply_floor)
    min_frames_per_class: int = 20    # the same floor for frames
    svm_epochs: int = 3
    svm_l2: float = 1e-4
    shuffle_buffer: int = 16384       # rows per shuffle buffer, at least heads.MIN_CHUNKS_MIXED chunks' worth
    seed: int = 0

    def validate(self) -> None:
        for name in ("theta1", "theta2"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UserError(f"{name} must be in [0, 1] (a softmax threshold), got {value}")
        for name in ("max_rounds", "epochs", "batch_size", "svm_epochs", "shuffle_buffer"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_images_per_class < 0 or self.min_frames_per_class < 0:
            raise UserError("class floors must be >= 0")
        check_something_kept(self.theta1, self.theta2, self.min_images_per_class, self.min_frames_per_class)
        if not self.hidden_units or any(int(u) < 1 for u in self.hidden_units):
            raise UserError(f"hidden_units must be one or more positive layer sizes, got {list(self.hidden_units)}")
        if not self.learning_rate > 0:  # 0: the heads stay at their random init, and every score is noise
            raise UserError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.svm_l2 >= 0:
            raise UserError(f"svm_l2 must be >= 0, got {self.svm_l2}")


def from_properties(props: Mapping[str, Any]) -> TransferConfig:
    """The config a DomainTransfer component ran with, from its execution properties (as the executor
    gets them, or as MLMD stored them: ``hidden_units`` may be JSON text). A property left unset takes
    the library's default; properties that are not parameters (``code_version``) are ignored."""
    hidden = props.get("hidden_units")
    hidden = TransferConfig.hidden_units if hidden is None else json.loads(hidden) if isinstance(hidden, str) else hidden
    given = {f.name: type(f.default)(props[f.name]) for f in dataclasses.fields(TransferConfig)
             if f.name != "hidden_units" and props.get(f.name) is not None}
    return TransferConfig(**given, hidden_units=tuple(int(u) for u in hidden))
