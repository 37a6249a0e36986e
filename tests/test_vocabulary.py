"""schemas.vocabulary: labels, their activities, and labels.json round trips."""
import json

import numpy as np
import pytest

from schemas.vocabulary import Vocabulary


def test_vocabulary_order_hierarchy_and_taxonomy(tmp_path):
    voc = Vocabulary.build(["Tennis:Serve", "Basketball:Slam dunk", "Basketball:Block", "Tennis:Serve"])
    assert voc.labels == ["Basketball:Block", "Basketball:Slam dunk", "Tennis:Serve"]
    assert voc.activities == {"Basketball": ["Basketball:Block", "Basketball:Slam dunk"], "Tennis": ["Tennis:Serve"]}
    np.testing.assert_array_equal(voc.activity_matrix(), [[1, 0], [1, 0], [0, 1]])
    assert Vocabulary.load(voc.save(str(tmp_path))) == voc
    with pytest.raises(KeyError, match="not in the vocabulary"):
        voc.index("Golf:Putt")
    overridden = Vocabulary.build(["Streetball:Dunk"], taxonomy={"Streetball:Dunk": "Basketball"})
    assert overridden.activities == {"Basketball": ["Streetball:Dunk"]}


@pytest.mark.parametrize("activities", [{"A": ["A:x"]}, {"A": ["A:x", "B:y"], "B": ["B:y"]}])
def test_a_label_in_no_activity_or_in_two_is_refused(activities):
    """Such a label has no sibling set: the trainer's sibling targets would divide 0 by 0."""
    text = json.dumps({"labels": ["A:x", "B:y"], "activities": activities})
    with pytest.raises(ValueError, match="every label must belong to exactly one activity"):
        Vocabulary.from_json(text)


def test_a_json_file_that_is_no_labels_file_says_what_it_needs():
    for text in ('{"results": {}}', '{"labels": 3, "activities": {}}', '{"labels": ["a:x"], "activities": []}', "[]",
                 '{"labels": ["A:ab"], "activities": {"A": "A:ab"}}', '{"labels": ["A:a"], "activities": {"A": [1, "A:a"]}}'):
        with pytest.raises(ValueError, match='not a labels.json: it needs {"labels"'):
            Vocabulary.from_json(text)


def test_labels_are_compared_in_nfc_and_a_stored_order_is_kept():
    """A labels.json written with decomposed labels (macOS) reads as NFC, in its own order: the
    indices of the model trained with it keep their meaning."""
    decomposed, composed = "Food:Cafe\u0301", "Food:Caf\u00e9"
    stored = Vocabulary.from_json(json.dumps({"labels": ["Food:Tea", decomposed],
                                              "activities": {"Food": ["Food:Tea", decomposed]}}))
    assert stored.labels == ["Food:Tea", composed] and stored.index(composed) == 1
    assert Vocabulary.build([decomposed, composed]).labels == [composed]
