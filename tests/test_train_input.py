"""bench/train_input.py: a pass over a real split of gzipped records, and the dealing rules' drift."""
import numpy as np


def test_one_pass_covers_the_split_and_dealing_holds_less_than_round_robin():
    from bench import train_input as bench

    found = bench.main(["--videos", "9", "--dim", "8", "--frames", "3", "30", "--streams", "4", "--k", "5",
                        "--simulated-videos", "500"])
    assert found["videos"] == 9 and found["pass_s"] > 0 and found["frames_per_s"] > 0
    assert found["balanced_steps"] <= found["steps"] <= found["balanced_steps"] + 6  # + the longest video's chunks
    peak = found["held_chunks_peak"]
    assert 0 < peak["dealt"] < peak["round_robin"]


def test_held_chunks_follow_each_rule():
    from bench.train_input import held_chunks_peak

    chunks = np.array([3, 1, 3, 1, 3, 1])
    assert held_chunks_peak(chunks, 2, dealt=False) == 9 - 2  # stream 0 gets every 3: 9 chunks against 2
    assert held_chunks_peak(chunks, 2, dealt=True) == 3  # the first video, or the fifth (7 against 4)
