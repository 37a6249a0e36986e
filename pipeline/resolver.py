"""The Evaluator's baseline in a local run: the latest blessed model other than the run's own."""
from __future__ import annotations

import logging
from typing import Dict, List

from tfx import types
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy

from laf import run_store
from pipeline import baseline

CANDIDATE = "candidate"  # the resolver's input that names this run's own model (the Trainer's output)


class OtherBlessedModelStrategy(LatestBlessedModelStrategy):
    """TFX's ``LatestBlessedModelStrategy`` minus this run's own model (the ``candidate`` input, so
    the resolver runs after the Trainer). Why: over an unchanged pipeline the stock strategy finds
    the model the last run blessed, which is this run's own (its Trainer reused from cache): the
    Evaluator ran again, the model against itself, and the Pusher pushed it again as a new version.
    Local runs only: Kubeflow's compiler knows TFX's own strategies alone."""

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Dict[str, List[types.Artifact]]:
        candidates = input_dict.get(CANDIDATE, [])
        own = {a.id for a in candidates}
        others = {k: v for k, v in input_dict.items() if k != CANDIDATE}
        others["model"] = [m for m in others["model"] if m.id not in own]
        found = super().resolve_artifacts(store, others)
        if found["model"] and candidates:  # pipeline.baseline checked the latest blessed model, maybe this one
            why = baseline.differs(*(run_store.serving_dir(m.uri) for m in (found["model"][0], candidates[0])))
            if why:
                logging.warning("the latest blessed model other than this run's cannot be its baseline: %s; the"
                                " Evaluator runs without one", why)
                found = {key: [] for key in found}
        return {**found, CANDIDATE: candidates}
