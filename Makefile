# Convenience wrapper around CMake. Builds into build/ (normal) and
# build/asan/ (AddressSanitizer + UndefinedBehaviorSanitizer, with clang so
# both compilers build the code warning-free).
BUILD      ?= build
ASAN_BUILD ?= build/asan
FUZZ_BUILD ?= build/fuzz
CORE_BUILD ?= build/core
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX     ?= /usr/local
CMAKE_ARGS ?=

.PHONY: all build deps test test-normal test-asan test-fuzz test-core fuzz memcheck coverage docs demo bench install clean lint

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	  -DDTWIN_SANITIZE=ON $(CMAKE_ARGS)

test-normal: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

# The core alone, as on a machine without libuv (-DDTWIN_WITH_UV=OFF: no
# driver, no `dtwin run --realtime`): it builds, every test that needs no
# libuv passes, and no compile or link line of it names libuv.
NO_UV = libuv|-luv([^a-z_]|$$)|/uv\.h|src/uv/
test-core: deps
	cmake -S . -B $(CORE_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDTWIN_WITH_UV=OFF \
	  -DDTWIN_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(CORE_BUILD) -j $(JOBS)
	@if grep -nE '$(NO_UV)' $(CORE_BUILD)/compile_commands.json; then \
	  echo "test-core: a compile line of the core build names uv"; exit 1; fi
	@if find $(CORE_BUILD) -name link.txt | xargs grep -lE '$(NO_UV)'; then \
	  echo "test-core: a link line of the core build names uv"; exit 1; fi
	cd $(CORE_BUILD) && ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (tests/fuzz): every seed and kept crash input once, then a
# short fuzzing run of each (10 s in make test, FUZZ_SECONDS in make fuzz).
test-fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDTWIN_FUZZ=ON \
	  -DDTWIN_FUZZ_SECONDS=10 $(CMAKE_ARGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDTWIN_FUZZ=ON \
	  -DDTWIN_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_ARGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	cd $(FUZZ_BUILD) && ctest -R fuzz.regress --output-on-failure
	@cd $(FUZZ_BUILD) && for t in tests/fuzz/fuzz_*; do \
	  n=$${t##*/fuzz_}; echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  ctest -R "fuzz.smoke.$$n\$$" -V 2>&1 | grep -E "stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)|DONE|Passed|Failed" ; \
	done

# The API reference (Doxygen, HTML in build/docs/html); any warning fails it,
# so every public declaration stays documented.
docs:
	@scripts/install-deps.sh doxygen
	@mkdir -p $(BUILD)/docs
	doxygen docs/Doxyfile
	@echo "API reference: build/docs/html/index.html"

# valgrind memcheck over the unit tests and the examples: no error, no leak.
memcheck: deps build
	@scripts/install-deps.sh valgrind
	scripts/memcheck.sh $(BUILD)

# Line and branch coverage of src/ by the whole test suite (gcovr).
COV_BUILD ?= build/coverage
coverage: deps
	@scripts/install-deps.sh gcovr
	cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DDTWIN_COVERAGE=ON \
	  -DDTWIN_BUILD_BENCH=OFF $(CMAKE_ARGS) >/dev/null
	cmake --build $(COV_BUILD) -j $(JOBS)
	find $(COV_BUILD) -name '*.gcda' -delete
	@# symbols and install checks look at the binary itself, which gcov instruments
	cd $(COV_BUILD) && ctest -j $(JOBS) -E "symbols.prefix|install.consumer" >/dev/null \
	  || { ctest --rerun-failed --output-on-failure; exit 1; }
	gcovr -r . --object-directory $(COV_BUILD) --filter 'src/' --txt $(COV_BUILD)/coverage.txt \
	  --json $(COV_BUILD)/coverage.json --print-summary | grep -E '^(lines|branches):'
	@echo "per-file report: $(COV_BUILD)/coverage.txt"
	@# the dispatcher's safety checks (limits, interlocks, deadlines, latency rule): every branch
	python3 scripts/branch_cov.py $(COV_BUILD)/coverage.json src/control/dispatcher.c \
	  dt__disp_command dt__disp_assess send_safe_state

test: test-normal test-asan test-fuzz test-core
	@echo "make test: normal (gcc), sanitizer (clang), fuzz-smoke and core-only builds passed"

# Quiet: dependencies and the build go to out/logs/ (shown in full on failure).
demo:
	@JOBS=$(JOBS) CMAKE_ARGS="$(CMAKE_ARGS)" scripts/demo.sh $(BUILD) out

bench:
	@scripts/install-deps.sh g++ libeigen3-dev
	cmake -S . -B $(BUILD) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	@for b in $(BUILD)/bench/bench_*; do [ -x "$$b" ] && "$$b"; done

# Static analysis of src/ and include/: cppcheck and clang-tidy (.clang-tidy:
# bugprone, the clang static analyzer, unchecked results), both clean, in CI.
lint: build
	@scripts/install-deps.sh cppcheck clang-tidy
	cppcheck --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
	  --quiet --std=c11 -I include -I src src include
	@fail=0; for f in src/*/*.c; do clang-tidy -p $(BUILD) --quiet "$$f" 2>/dev/null || fail=1; done; \
	  [ $$fail -eq 0 ] || { echo "lint: clang-tidy findings above"; exit 1; }

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
