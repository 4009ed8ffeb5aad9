# Metricstor build. `make` builds build/metricstor and the example client;
# `make test` installs dependencies, builds normal + sanitizer builds, runs unit and e2e tests.
CC      ?= cc
PKGS    := libmicrohttpd snappy libpcre2-8 libxxhash libzstd gnutls libxcrypt
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
               -Isrc -pthread $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
OPT     ?= -O2 -g
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Everything under src/ except main.c and src/cli/ (metricstor-cli's own program) forms the library both the server and the tests link.
LIB_SRCS  := $(filter-out src/main.c src/cli/%,$(shell find src -name '*.c' | sort))
CLI_SRCS  := $(sort $(wildcard src/cli/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))

BUILD   := build
SANB    := build/asan

LIB_OBJS      := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS_SAN  := $(LIB_SRCS:%.c=$(SANB)/obj/%.o)
UNIT_BINS     := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_BINS_SAN := $(UNIT_SRCS:tests/unit/%.c=$(SANB)/tests/%)
BENCH_SRCS    := $(wildcard bench/*.c)
BENCH_BINS    := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps run test unit unit-asan e2e promql-diff asan clean check-layers bench bench-smoke bench-deps fuzz fuzz-build fuzz-deps test-browser ui-screenshots soak longterm
all: $(BUILD)/metricstor $(BUILD)/metricstor-cli $(BUILD)/push_metrics $(BENCH_BINS)

deps:
	@sh scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(OPT) -MMD -MP -c $< -o $@

$(SANB)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(SAN_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libmetricstor.a: $(LIB_OBJS)
	@rm -f $@; ar rcs $@ $^
$(SANB)/libmetricstor.a: $(LIB_OBJS_SAN)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/metricstor: $(BUILD)/obj/src/main.o $(BUILD)/libmetricstor.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)
$(SANB)/metricstor: $(SANB)/obj/src/main.o $(SANB)/libmetricstor.a
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

$(BUILD)/metricstor-cli: $(CLI_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libmetricstor.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(BUILD)/push_metrics: $(BUILD)/obj/examples/push_metrics.o $(BUILD)/libmetricstor.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libmetricstor.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libmetricstor.a
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -o $@ $^ $(LIBS) -lcmocka
$(SANB)/tests/%: $(SANB)/obj/tests/unit/%.o $(SANB)/libmetricstor.a
	@mkdir -p $(dir $@)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS) -lcmocka

# The web UI (web/) is embedded: scripts/embed-web.sh writes build/gen/web_assets.c, which
# src/api/api_ui.c includes (so every build of the library, fuzzers too, gets it). The web/ directory
# itself is a prerequisite so that adding or removing a file regenerates it too.
WEB_FILES := web/index.html $(filter-out web/index.html,$(sort $(wildcard web/*.html web/*.js web/*.css web/vendor/*)))
$(BUILD)/gen/web_assets.c: scripts/embed-web.sh $(WEB_FILES) web
	@mkdir -p $(dir $@)
	sh scripts/embed-web.sh $@ $(WEB_FILES)
$(BUILD)/obj/src/api/api_ui.o $(SANB)/obj/src/api/api_ui.o: $(BUILD)/gen/web_assets.c

# The web UI end to end in headless Chromium (installs chromium and playwright-core when missing).
test-browser: all
	sh tests/e2e/browser/run.sh $(BUILD)/metricstor

# The same run, also refreshing the screenshots in docs/img/ (docs/ui.md shows them).
ui-screenshots: all
	sh tests/e2e/browser/run.sh $(BUILD)/metricstor --screenshots

asan: $(SANB)/metricstor

unit: $(UNIT_BINS)
	@sh scripts/run-unit.sh $(UNIT_BINS)
unit-asan: $(UNIT_BINS_SAN)
	@sh scripts/run-unit.sh $(UNIT_BINS_SAN)

# End-to-end tests drive the real binaries over HTTP; the sanitizer build runs them too.
e2e: all asan
	python3 tests/e2e/run_all.py --binary $(BUILD)/metricstor --asan-binary $(SANB)/metricstor \
	        --example $(BUILD)/push_metrics --shared-e2e ../shared/e2e/seed_e2e.py

# Differential PromQL test against a real Prometheus 2.42 (installs Debian's package if missing).
promql-diff: all
	python3 tests/promql_diff/test_compare.py && python3 tests/promql_diff/promql_diff.py --binary $(BUILD)/metricstor

test: deps
	$(MAKE) check-layers
	$(MAKE) unit unit-asan
	$(MAKE) e2e
	$(MAKE) promql-diff

run: deps all
	./$(BUILD)/metricstor

# Side-by-side benchmark with Prometheus and VictoriaMetrics (full run rewrites docs/BENCHMARKS.md).
BENCH_ARGS ?=
bench-deps:
	@sh scripts/install-deps.sh bench
bench: deps bench-deps all
	python3 bench/run_bench.py $(BENCH_ARGS)
# A tiny run of the whole suite, for CI: keeps it working without touching docs/.
bench-smoke: deps bench-deps all
	python3 bench/run_bench.py --smoke --out $(BUILD)/bench-smoke.md --chart $(BUILD)/bench-smoke.png

# Soak test: steady remote_write load plus concurrent queries for SOAK_MINUTES (writes docs/SOAK.md
# and docs/soak.png unless SOAK_ARGS holds --out/--chart); fails if RSS or latency grows.
SOAK_MINUTES ?= 10
SOAK_ARGS ?=
soak: deps bench-deps all
	python3 bench/soak.py --minutes $(SOAK_MINUTES) $(SOAK_ARGS)
# Long-term measurement (#4): 10,000 series x 7 days at 15 s, then 1 day; writes docs/LONGTERM.md.
LONGTERM_ARGS ?=
longterm: deps all
	python3 bench/longterm.py $(LONGTERM_ARGS)

check-layers:
	@sh scripts/check-layers.sh

# libFuzzer targets: every tests/fuzz/fuzz_*.c, linked with clang against a fuzz-instrumented
# build of the library (compiled once into build/fuzz/libmetricstor.a, not once per target).
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Isrc -pthread -g -O1 -fsanitize=address,undefined \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJS := $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(BUILD)/fuzz/obj/src/api/api_ui.o: $(BUILD)/gen/web_assets.c
$(BUILD)/fuzz/libmetricstor.a: $(FUZZ_OBJS)
	@rm -f $@; ar rcs $@ $^
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/fuzz/libmetricstor.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/fuzz/libmetricstor.a $(LIBS)
fuzz-build: fuzz-deps $(FUZZ_BINS)
fuzz-deps:
	@sh scripts/install-deps.sh fuzz
fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$(basename $$f); \
	  echo "fuzzing $$f for $(FUZZ_SECONDS)s"; \
	  seeds=tests/fuzz/corpus/$$(basename $$f); [ -d $$seeds ] || seeds=; \
	  if $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus/$$(basename $$f) \
	       $$seeds > $$f.log 2>&1; then tail -n 6 $$f.log; \
	  else tail -n 60 $$f.log; echo "FUZZ FAILURE in $$f"; exit 1; fi; \
	done

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
