"""The environment's TensorBoard serves a run's scalars (README: `tensorboard --logdir <pipeline root>`)."""
import tensorboard_client as tb


def test_tensorboard_serves_the_scalar_tags(tmp_path):
    import tensorflow as tf

    with tf.summary.create_file_writer(str(tmp_path / "DomainTransfer" / "rounds")).as_default():
        for step in range(3):
            tf.summary.scalar("kept_images", 10.0 - step, step=step)
    with tb.serving(str(tmp_path)) as url:
        tags = tb.scalar_tags(url, lambda tags: "kept_images" in tags.get("DomainTransfer/rounds", {}))
        assert "kept_images" in tags.get("DomainTransfer/rounds", {}), tags
        assert [(step, value) for _, step, value in tb.scalars(url, "DomainTransfer/rounds", "kept_images")] \
            == [(0, 10.0), (1, 9.0), (2, 8.0)]
