# The README's two commands, `make run` and `make test`, plus `make build`.
# Each installs the Debian build dependencies when missing, then builds in Release.
PORT ?= 8000
JOBS ?= $(shell nproc)
DEB_PACKAGES := g++ cmake make pkg-config libeigen3-dev libstb-dev libjpeg62-turbo-dev libxsimd-dev \
                nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev

.PHONY: deps build run test test-sanitize clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
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

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

run: build
	./build/release/face-service serve --port $(PORT)

test: build
	ctest --preset release -j $(JOBS)

test-sanitize: deps
	@cmake --preset sanitize >/dev/null
	@cmake --build --preset sanitize -j $(JOBS)
	ctest --preset sanitize -j $(JOBS)

clean:
	rm -rf build
