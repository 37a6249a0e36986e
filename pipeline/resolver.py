"""The Evaluator's baseline in a local run: the latest blessed model other than the run's own."""
from __future__ import annotations

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

CANDIDATE = "candidate"  # the resolver's input that names this run's own model (the Trainer's output)


class OtherBlessedModelStrategy(LatestBlessedModelStrategy):
    """TFX's ``LatestBlessedModelStrategy`` minus this run's own model (the ``candidate`` input, so
    the resolver runs after the Trainer). Why: over an unchanged pipeline the stock strategy finds
    the model the last run blessed, which is this run's own (its Trainer reused from cache): the
    Evaluator ran again, the model against itself, and the Pusher pushed it again as a new version.
    Local runs only: Kubeflow's compiler knows TFX's own strategies alone."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        own = {a.id for a in input_dict.get(CANDIDATE, [])}
        others = {k: v for k, v in input_dict.items() if k != CANDIDATE}
        others["model"] = [m for m in others["model"] if m.id not in own]
        found = super().resolve_artifacts(store, others)
        return None if found is None else {**found, CANDIDATE: list(input_dict.get(CANDIDATE, []))}
