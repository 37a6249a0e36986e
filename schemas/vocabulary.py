"""The label vocabulary (stable order) and the activity -> actions hierarchy.

Written once by ingestion as ``labels.json``; every downstream stage reads it, so label
indices mean the same thing everywhere.
"""
from __future__ import annotations

import dataclasses
import json
import unicodedata
from typing import Dict, Iterable, List, Mapping, Optional

FILENAME = "labels.json"


def canonical(label: str) -> str:
    """A label as every stage compares it: Unicode NFC, so "é" typed composed and written decomposed
    (as macOS names files and folders) is one label."""
    return unicodedata.normalize("NFC", label)


def split_label(label: str) -> str:
    """Activity of a fine-grained label written ``Activity:Action``."""
    return label.split(":", 1)[0].strip()


def _strings(value) -> bool:
    """A JSON list of strings (a string alone would pass ``list()`` as its characters)."""
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    labels: List[str]
    activities: Dict[str, List[str]]  # activity -> its actions (labels), vocabulary order

    @classmethod
    def build(cls, labels: Iterable[str], taxonomy: Optional[Mapping[str, str]] = None) -> "Vocabulary":
        """Sorted, de-duplicated labels; ``taxonomy`` (label -> activity) overrides the ':' split."""
        ordered = sorted({canonical(label) for label in labels})
        activities: Dict[str, List[str]] = {}
        for label in ordered:
            activity = (taxonomy or {}).get(label) or split_label(label)
            activities.setdefault(activity, []).append(label)
        return cls(ordered, activities)

    def __len__(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise KeyError(f"label {label!r} is not in the vocabulary ({len(self.labels)} labels)") from None

    def activity_of(self, label: str) -> str:
        for activity, actions in self.activities.items():
            if label in actions:
                return activity
        raise KeyError(label)

    @property
    def activity_names(self) -> List[str]:
        return list(self.activities)

    def activity_matrix(self):
        """[N_actions, N_activities] 0/1 numpy matrix mapping actions to their activity."""
        import numpy as np

        names = self.activity_names
        m = np.zeros((len(self.labels), len(names)), np.float32)
        for j, activity in enumerate(names):
            for label in self.activities[activity]:
                m[self.labels.index(label), j] = 1.0
        return m

    def to_json(self) -> str:
        return json.dumps({"labels": self.labels, "activities": self.activities}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        d = json.loads(text)
        labels, activities = (d.get("labels"), d.get("activities")) if isinstance(d, dict) else (None, None)
        if not (_strings(labels) and isinstance(activities, dict) and all(map(_strings, activities.values()))):
            raise ValueError('not a labels.json: it needs {"labels": [label, ...], "activities": {activity: [label,'
                             ' ...]}}')
        vocabulary = cls([canonical(x) for x in labels],  # the stored order: a model's output indices
                         {canonical(k): [canonical(x) for x in v] for k, v in activities.items()})
        placed = [label for actions in vocabulary.activities.values() for label in actions]
        if sorted(placed) != sorted(vocabulary.labels) or len(set(placed)) != len(placed):
            # a label in no activity (or two) has no siblings: the trainer's sibling targets divide by 0
            raise ValueError("labels.json: every label must belong to exactly one activity; "
                             f"labels {sorted(vocabulary.labels)}, activities {vocabulary.activities}")
        return vocabulary

    def save(self, directory: str) -> str:
        import tensorflow as tf

        path = f"{directory.rstrip('/')}/{FILENAME}"
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(self.to_json())
        return path

    @classmethod
    def load(cls, path_or_dir: str) -> "Vocabulary":
        import tensorflow as tf

        path = path_or_dir if path_or_dir.endswith(".json") else f"{path_or_dir.rstrip('/')}/{FILENAME}"
        with tf.io.gfile.GFile(path) as f:
            return cls.from_json(f.read())
