"""Report stage: a finished run as one self-contained HTML page (page) from its ML Metadata (collect)."""
