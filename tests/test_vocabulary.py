"""schemas.vocabulary: labels, their activities, and labels.json round trips."""
import json

import pytest

from schemas.vocabulary import Vocabulary


def test_round_trip_and_activities():
    vocabulary = Vocabulary.build(["Diving:Springboard", "Tennis:Serve", "Diving:Platform"])
    assert Vocabulary.from_json(vocabulary.to_json()) == vocabulary
    assert vocabulary.activities == {"Diving": ["Diving:Platform", "Diving:Springboard"], "Tennis": ["Tennis:Serve"]}


@pytest.mark.parametrize("activities", [{"A": ["A:x"]}, {"A": ["A:x", "B:y"], "B": ["B:y"]}])
def test_a_label_in_no_activity_or_in_two_is_refused(activities):
    """Such a label has no sibling set: the trainer's sibling targets would divide 0 by 0."""
    text = json.dumps({"labels": ["A:x", "B:y"], "activities": activities})
    with pytest.raises(ValueError, match="every label must belong to exactly one activity"):
        Vocabulary.from_json(text)
