"""The demo: embedded data in the paper's setting, generated deterministically from a seed, and the
demo run (``laf demo``) over it.

Why synthetic media: the method needs untrimmed videos whose fine-grained label is visible
only during a short action, and noisy crawled images of each action. Real data sets
(THUMOS14, FGA-240) cannot ship with the code, so we draw the same structure:

* every activity has a *scene* (floor colour, texture, court lines, moving "players") that
  all of its actions share, so context frames cannot tell sibling actions apart;
* every fine-grained action has a distinctive foreground *pattern* (shape, colour, motion)
  that appears only inside the ground-truth segments (a few seconds, sometimes repeatedly);
* web images per action mix video-like highlights (the pattern on its scene), off-domain
  renderings (product shot on white, cartoon) and irrelevant images (other classes'
  patterns, noise), with the truth recorded so the image filter can be scored.

Modules, in the order the data is made: ``settings`` (what to generate), ``looks`` (scenes and
patterns), ``videos``, ``images``, ``dataset`` (the whole set on disk, its ground truth and
reuse), ``probe`` (the calibrated backbone and what its features show), ``run`` (``laf demo``).
"""
