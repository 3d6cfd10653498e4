# lesson-archiver: `make archive` runs the main job, `make test` the test suite.
# Both create .venv, install the package and the external programs they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# constraints.txt pins every runtime and test dependency to the versions the tests passed with
# (`make constraints` refreshes it); the install stamp changes when either file changes.
CONSTRAINTS ?= constraints.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | sha256sum | cut -c1-12)
MANIFEST ?= manifests/digital-china.toml
OUTPUT ?= output
JOBS ?= 2

# the master is muxed by mkvmerge (S_TEXT/WEBVTT, LanguageIETF) and read back by mkvextract
RUNTIME_TOOLS := ffmpeg:ffmpeg ffprobe:ffmpeg mkvmerge:mkvtoolnix mkvextract:mkvtoolnix \
	mkvpropedit:mkvtoolnix
TEST_TOOLS := $(RUNTIME_TOOLS) chromium:chromium espeak-ng:espeak-ng \
	mediainfo:mediainfo mediaconch:mediaconch node:nodejs npm:npm \
	curl:curl openssl:openssl strace:strace systemd-analyze:systemd \
	/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei \
	libatomic.so.1:libatomic1 libgnutls.so.30:libgnutls30

.PHONY: all install archive test test-fast demo verify bench lint tools test-tools test-clients viewer constraints clean
all: archive

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@scripts/ensure-tools.sh $(PYTHON):python3
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || scripts/ensure-tools.sh _no_venv_:python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# Resolve pyproject's dependencies afresh in a scratch venv and pin what was installed.
# Review the diff, run `make test`, commit both files together.
# Test-only tools with pins of their own (pywb's replay engine) live in a separate tool venv
# with its own requirements, never here: their pins would hold back archiver's dependencies.
CONSTRAINTS_VENV := .venv-constraints
constraints:
	rm -rf $(CONSTRAINTS_VENV)
	$(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python -m pip install -q --upgrade pip
	$(CONSTRAINTS_VENV)/bin/python -m pip install -q '.[test]'
	{ echo '# Tested versions of every runtime and test dependency: make installs with'; \
	  echo '# pip install -c constraints.txt -e ".[test]". Refresh: make constraints.'; \
	  echo '# Generated from a fresh resolve with $(shell $(PYTHON) --version); do not edit.'; \
	  $(CONSTRAINTS_VENV)/bin/python -m pip freeze --exclude lesson-archiver; \
	} > $(CONSTRAINTS).tmp
	mv $(CONSTRAINTS).tmp $(CONSTRAINTS)
	rm -rf $(CONSTRAINTS_VENV) build

tools:
	@scripts/ensure-tools.sh $(RUNTIME_TOOLS)

test-tools:
	@scripts/ensure-tools.sh $(TEST_TOOLS)

# third-party clients the tests judge our outputs with (pywb in .venv-tools/, the W3C WebVTT
# parser from npm); pinned, stamped, kept out of .venv (see the script)
test-clients: test-tools
	@scripts/install-test-clients.sh $(PYTHON)

# the IIIF AV viewer publish copies into site/viewer/ (Samvera Ramp, pinned by
# viewer/package-lock.json, bundled once by esbuild; see the script)
viewer:
	@scripts/ensure-tools.sh node:nodejs npm:npm
	@scripts/install-viewer.sh

archive: $(STAMP) tools viewer
	$(BIN)/archiver archive --manifest $(MANIFEST) --output $(OUTPUT) --jobs $(JOBS)

demo: $(STAMP) tools viewer
	@scripts/ensure-tools.sh espeak-ng:espeak-ng
	$(BIN)/archiver demo --output $(OUTPUT)/demo

verify: $(STAMP) tools
	$(BIN)/archiver verify --output $(OUTPUT)

test: $(STAMP) test-tools test-clients viewer
	$(BIN)/ruff check archiver tests
	$(BIN)/mypy
	$(BIN)/pytest -q

# The edit loop (about a minute): lint, types, and every test not marked slow (browser tests
# count as slow; see tests/conftest.py). `make test` above stays the full suite CI runs.
test-fast: $(STAMP) test-tools
	$(BIN)/ruff check archiver tests
	$(BIN)/mypy
	$(BIN)/pytest -q -m "not slow"

bench: $(STAMP) test-tools
	$(BIN)/python -m benchmarks --output $(OUTPUT) $(BENCH_ARGS)

clean:
	rm -rf $(OUTPUT) test-artifacts .pytest_cache .mypy_cache .ruff_cache $(CONSTRAINTS_VENV) \
		.venv-tools tests/tools/js/node_modules viewer/node_modules viewer/dist
