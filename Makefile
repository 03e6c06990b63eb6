# A thin wrapper over CMake so that the README's two commands work on a fresh machine.
#   make run   - installs missing packages, builds, starts `weft web` on tcp:8080 serving examples/site/
#   make test  - installs missing packages, builds and runs every test (gcc, -Werror), then again
#                under AddressSanitizer + UndefinedBehaviorSanitizer (clang)
#   make install PREFIX=/usr/local
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build build-asan run test test-fast test-asan install clean

all: build

deps:
	@scripts/deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_WERROR=ON \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWEFT_WERROR=ON \
		-DWEFT_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The demo site: static files from examples/site/ plus --demo's coroutine route, access log on
# stdout. WEB_FLAGS adds options, e.g. make run WEB_FLAGS='--workers 2'.
WEB_FLAGS ?=
run: build
	@echo "weft web is serving examples/site/ on http://127.0.0.1:8080/ (and /demo/hello); Ctrl-C drains and stops it"
	@$(BUILD)/weft web --path examples/site --listen tcp:8080:interface=127.0.0.1 --demo --access-log - $(WEB_FLAGS)

# A test that fails is run once more before it counts as failed (--repeat until-pass:2): timing
# tests on a loaded two-core machine can miss a bound once; both outcomes are printed.
CTEST_FLAGS ?= --output-on-failure --repeat until-pass:2

test-fast: build
	@cd $(BUILD) && ctest $(CTEST_FLAGS) -j $(JOBS)

test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest $(CTEST_FLAGS) -j $(JOBS) -LE no-sanitizer

test: test-fast test-asan

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
