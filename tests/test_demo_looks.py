"""The demo's scenes and patterns: the shipped set and other draws (``--looks``)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from demo_fixtures import TINY
from laf.demo.looks import check_visible, scene_of, scenes_and_looks
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


def test_a_sibling_scene_shift_moves_each_sibling_s_scene_colour_and_nothing_else():
    """``--sibling-scene-shift N``: siblings' scenes N colour steps apart, centred on their activity's;
    0 keeps the shared scene (the same array, so the shipped data's bytes stay as they were)."""
    config = dataclasses.replace(TINY, activities=2, actions_per_activity=3)
    scenes, looks = scenes_and_looks(config)
    for activity, labels in labels_for(config).items():
        assert all(scene_of(scenes, looks, label, 0.0) is scenes[activity] for label in labels)
        moved = [scene_of(scenes, looks, label, 20.0) for label in sorted(labels)]  # steps in label order
        assert all(m[1:] == scenes[activity][1:] for m in moved)  # texture and players as they were
        colours = np.stack([m[0] for m in moved])
        np.testing.assert_allclose(colours.mean(0), scenes[activity][0], atol=1e-4)  # unless clipped at 0 or 255
        steps = np.linalg.norm(np.diff(colours, axis=0), axis=1)
        np.testing.assert_allclose(steps, 20.0 * np.linalg.norm([1.0, -0.6, 0.4]), rtol=1e-5)


def test_a_shift_that_would_hide_a_pattern_on_its_scene_is_refused():
    """Five siblings two steps from their activity's colour: a shift of 45 brought two scenes within 91-116
    of their own pattern's colour (chosen > 130 from the unshifted scene)."""
    wide = dataclasses.replace(TINY, activities=3, actions_per_activity=5, looks=35)
    scenes, looks = scenes_and_looks(wide)
    with pytest.raises(UserError, match=r"--sibling-scene-shift\) 45 moves .* within 130 of its pattern's colour"):
        check_visible(scenes, looks, 45.0)
    check_visible(scenes, looks, 0.0)
    shipped = dataclasses.replace(TINY, activities=4, actions_per_activity=3, looks=35)  # the documented draw's
    check_visible(*scenes_and_looks(shipped), 30.0)
