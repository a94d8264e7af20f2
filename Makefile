# The README's two commands, `make run` and `make test`, plus `make build`.
# Each installs the Debian build dependencies when missing, then builds in Release.
PORT ?= 8000
JOBS ?= $(shell nproc)
DEB_PACKAGES := g++ cmake make pkg-config libeigen3-dev libstb-dev libjpeg62-turbo-dev libxsimd-dev \
                nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
# For `make test` only: the HTTP tests use curl and python3; the browser test
# (tests/browser) drives Debian's chromium with playwright-core from npm
# (never a downloaded browser); the deployment tests (tests/deploy) read YAML,
# validate the Helm values' schema and run `docker-compose config`; the
# hostile-input test (tests/server/hostile_test.py) makes its photos with
# Pillow and jpegtran (progressive, arithmetic-coded, rotated JPEGs), and the
# soak (bench/soak.sh) drives the server with wrk.
TEST_DEB_PACKAGES := chromium curl python3 python3-yaml python3-jsonschema docker-compose \
                     python3-pil libjpeg-turbo-progs wrk
# For `make fuzz` / `make fuzz-ci` only: libFuzzer comes with Debian's clang
# (its runtime in libclang-rt-14-dev); cjpeg/djpeg scale the photo seeds.
FUZZ_DEB_PACKAGES := clang-14 libclang-rt-14-dev libjpeg-turbo-progs
# Seconds per fuzz target (tests/fuzz/README.md).
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 30

.PHONY: deps test-deps build run test test-sanitize test-tsan fuzz-deps fuzz fuzz-ci clean

# $(call install_missing,PACKAGES): apt-get installs those not installed yet.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PACKAGES))

# playwright-core again only when node_modules is missing or older than the
# lock file. Without npm or the registry the browser test skips (exit 77).
test-deps: deps
	$(call install_missing,$(TEST_DEB_PACKAGES))
	@if [ ! -d tests/browser/node_modules ] || [ tests/browser/package-lock.json -nt tests/browser/node_modules ]; then \
	  if command -v npm >/dev/null && npm ci --prefix tests/browser --no-audit --no-fund; then \
	    touch tests/browser/node_modules; \
	  else \
	    echo "npm ci --prefix tests/browser failed or npm is missing: the browser test will be skipped"; \
	  fi; \
	fi

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

run: build
	./build/release/face-service serve --port $(PORT)

test: build test-deps
	ctest --preset release -j $(JOBS)

test-sanitize: deps
	@cmake --preset sanitize >/dev/null
	@cmake --build --preset sanitize -j $(JOBS)
	ctest --preset sanitize -j $(JOBS)

# ThreadSanitizer on the tests where threads meet: the thread pool, one
# detection spread over threads and concurrent detections, the HTTP server
# and its clients (the presets name the targets and tests).
test-tsan: deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

# libFuzzer on the photo path, the HTTP parsing and the weight loader
# (tests/fuzz): `make fuzz` runs each target FUZZ_SECONDS, `make fuzz-ci`
# FUZZ_CI_SECONDS (the CI's bounded run). Nothing is written to the repository.
fuzz-deps: deps
	$(call install_missing,$(FUZZ_DEB_PACKAGES))

fuzz: fuzz-deps
	JOBS=$(JOBS) bash tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-ci: fuzz-deps
	JOBS=$(JOBS) bash tests/fuzz/run.sh $(FUZZ_CI_SECONDS)

clean:
	rm -rf build
