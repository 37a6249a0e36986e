"""TFX component: Algorithm 1 domain transfer -> LAF proposal model, LAF-scored videos, round log."""
