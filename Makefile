# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv if missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test lock clean chromium ffmpeg

venv: $(STAMP)

# The environment is installed exactly from the resolver-compiled lock file.
$(STAMP): requirements.lock setup.py
	@bash .ci/make-venv $(VENV)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/laf demo

# The report test opens the HTML in a real headless browser: Debian's Chromium.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium (Debian package) for the report test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The live-stream tests and bench push MPEG-TS over loopback with Debian's ffmpeg (the product decodes with PyAV).
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { echo "installing ffmpeg (Debian package) for the live-stream tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

test: $(STAMP) chromium ffmpeg
	$(PY) -m pytest tests

# Re-resolve the lock after changing requirements.in (needs network to PyPI).
lock: $(STAMP)
	$(VENV)/bin/uv pip compile requirements.in --python-version 3.10 \
	  --python-platform x86_64-manylinux_2_28 -o requirements.lock

clean:
	rm -rf $(VENV) *.egg-info
