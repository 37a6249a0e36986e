"""The demo's scenes and patterns: the shipped set and other draws (``--looks``)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from demo_fixtures import TINY
from laf.demo.looks import scenes_and_looks
from laf.demo.settings import labels_for
from laf.errors import UserError


def test_other_looks_draw_other_scenes_and_patterns_and_keep_siblings_apart():
    """``looks`` 0 is the shipped set; any other value redraws every scene and pattern (so a
    method can be checked on objects it was not tuned on), and siblings stay distinguishable."""
    config = dataclasses.replace(TINY, activities=4, actions_per_activity=3)
    shipped_scenes, shipped = scenes_and_looks(config)
    assert scenes_and_looks(dataclasses.replace(config, looks=0))[1] == shipped
    for n in (1, 2, 3):
        scenes, looks = scenes_and_looks(dataclasses.replace(config, looks=n))
        assert looks == scenes_and_looks(dataclasses.replace(config, looks=n))[1]
        assert sum(looks[l] != shipped[l] for l in looks) >= len(looks) - 1
        assert all(not np.array_equal(scenes[a][0], shipped_scenes[a][0]) for a in scenes)
        for labels in labels_for(config).values():
            assert len({looks[l].shape for l in labels}) == len(labels)
            assert len({looks[l].colour for l in labels}) == len(labels)
            assert all(np.linalg.norm(np.subtract(looks[l].colour, scenes[l.split(":")[0]][0])) > 130
                       for l in labels)
    with pytest.raises(UserError, match="looks"):
        dataclasses.replace(config, looks=-1).validate()
