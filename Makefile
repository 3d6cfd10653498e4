# lesson-archiver: `make archive` runs the main job, `make test` the test suite.
# Both create .venv, install the package and the external programs they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
MANIFEST ?= manifests/digital-china.toml
OUTPUT ?= output
JOBS ?= 2

RUNTIME_TOOLS := ffmpeg:ffmpeg ffprobe:ffmpeg
TEST_TOOLS := $(RUNTIME_TOOLS) chromium:chromium espeak-ng:espeak-ng mkvmerge:mkvtoolnix \
	mediainfo:mediainfo mediaconch:mediaconch mkvextract:mkvtoolnix node:nodejs npm:npm \
	curl:curl openssl:openssl strace:strace \
	/usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei \
	libatomic.so.1:libatomic1

.PHONY: all archive test demo verify bench lint tools test-tools test-clients clean
all: archive

$(STAMP): pyproject.toml
	@scripts/ensure-tools.sh $(PYTHON):python3
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || scripts/ensure-tools.sh _no_venv_:python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

tools:
	@scripts/ensure-tools.sh $(RUNTIME_TOOLS)

test-tools:
	@scripts/ensure-tools.sh $(TEST_TOOLS)

# third-party clients the tests judge our outputs with (pywb in .venv-tools/, the W3C WebVTT
# parser from npm); pinned, stamped, kept out of .venv (see the script)
test-clients: test-tools
	@scripts/install-test-clients.sh $(PYTHON)

archive: $(STAMP) tools
	$(BIN)/archiver archive --manifest $(MANIFEST) --output $(OUTPUT) --jobs $(JOBS)

demo: $(STAMP) tools
	@scripts/ensure-tools.sh espeak-ng:espeak-ng
	$(BIN)/archiver demo --output $(OUTPUT)/demo

verify: $(STAMP) tools
	$(BIN)/archiver verify --output $(OUTPUT)

test: $(STAMP) test-tools test-clients
	$(BIN)/ruff check archiver tests
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP) test-tools
	$(BIN)/python -m benchmarks --output $(OUTPUT)

clean:
	rm -rf $(OUTPUT) test-artifacts .pytest_cache .mypy_cache .ruff_cache .venv-tools \
		tests/tools/js/node_modules
