"""Algorithm 1's thresholds: a threshold of 1 is a floor-only filter, refused only where no floor keeps a row."""
import pytest

from laf.errors import UserError
from laf.transfer.thresholds import check_something_kept


def test_a_threshold_of_one_needs_a_floor():
    check_something_kept(1.0, 1.0, 5, 20)  # every class's best rows: a legitimate filter
    check_something_kept(0.99, 0.5, 0, 0)
    with pytest.raises(UserError, match=r"^theta1 1 keeps no row .* min_images_per_class 0 keeps none"):
        check_something_kept(1.0, 0.5, 0, 20)
    with pytest.raises(UserError, match=r"^dt\.theta2 1 keeps no row .* raise min_frames_per_class$"):
        check_something_kept(0.5, 1.0, 5, 0, prefix="dt.")
