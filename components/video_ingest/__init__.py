"""TFX component: untrimmed videos -> SequenceExamples of shared CNN features + label vocabulary."""
