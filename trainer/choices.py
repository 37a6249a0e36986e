"""The trainer's named choices, in a module without TensorFlow: the pipeline's config checks a
config against them before any TF import, and the Trainer checks its custom_config against the same."""

WEIGHTINGS = ("laf", "uniform", "random30", "oracle")  # per-frame loss weights (trainer.data)
VARIANTS = WEIGHTINGS + ("cnn",)  # cnn: the single-frame baseline, trained on every frame alike
BASELINES = ("uniform", "random30", "cnn")  # the paper's, without an actionness head
LR_SCHEDULES = ("plateau", "cosine")
OPTIMIZERS = ("adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ftrl", "lion", "nadam", "rmsprop",
              "sgd")  # keras.optimizers.get's names
