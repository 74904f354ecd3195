# Concord: plain Makefile. `make run` and `make test` are the two
# commands a newcomer needs; both install what is missing first.

CC		?= cc
KORE_FEATURES	:= $(shell cat /usr/share/kore/features 2>/dev/null)
WARN		= -Wall -Wextra -Werror -Wstrict-prototypes \
		  -Wmissing-prototypes -Wmissing-declarations -Wshadow \
		  -Wpointer-arith -Wcast-qual -Wsign-compare
SCHEMA_VERSION	:= $(shell ls sql/migrations/[0-9]*.sql 2>/dev/null | sed 's|.*/0*||; s|_.*||' | sort -n | tail -1)
# The code the database must run: SHA-256 over sql/code/*.sql in name
# order, as `concord-admin migrate` computes it; /readyz compares.
CODE_FILES	:= $(sort $(wildcard sql/code/*.sql))
CODE_CHECKSUM	:= $(shell cat $(CODE_FILES) /dev/null | sha256sum | cut -c1-64)
CFLAGS_BASE	= -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE \
		  -DCONCORD_SCHEMA_VERSION=$(SCHEMA_VERSION) \
		  -DCONCORD_CODE_CHECKSUM=\"$(CODE_CHECKSUM)\" \
		  -I/usr/include/postgresql -I/usr/include/hiredis
LIBS		= -ljwt -ljansson -lhiredis -lpq -lcrypto -lm
# The worker speaks HTTP out (webhooks); the API only to fetch a JWKS
# (api/jwks.c, a process of its own).
WORKER_LIBS	= -lcurl -lpthread
SAN		= -fsanitize=address,undefined -fno-omit-frame-pointer

COMMON_SRC	= common/config.c common/log.c common/auth.c common/taxonomy.c \
		  common/rds.c common/db.c common/job.c common/match.c \
		  common/problem.c common/query.c common/rlimit.c \
		  common/suppress.c common/netguard.c
COMMON_HDR	= $(wildcard common/*.h)
API_SRC		= $(wildcard api/*.c)
WORKER_SRC	= worker/worker.c worker/match.c worker/report.c worker/webhook.c \
		  worker/wmetrics.c
ADMIN_SRC	= worker/admin.c
UNIT_SRC	= $(wildcard tests/unit/test_*.c)

PKGS		= kore libjansson-dev libpq-dev libhiredis-dev libjwt-dev \
		  libssl-dev libcurl4-openssl-dev postgresql redis-server libcmocka-dev \
		  python3-pytest python3-requests python3-jwt python3-psycopg2 \
		  python3-redis python3-jsonschema python3-yaml \
		  python3-cryptography python3-hypothesis wrk pkg-config gcc make \
		  clang libclang-rt-14-dev nodejs chromium prometheus

.PHONY: all deps deps-build build asan unit run test clean fuzz fuzz-short node \
	docs lint-contract

all: build

deps:
	@deploy/deps.sh $(PKGS)

# What `make build` alone needs: the container image's build stage runs
# `make deps-build build` (deploy/Dockerfile). make test validates
# deploy/compose.yaml with docker-compose (tests/api/test_deploy.py).
BUILD_PKGS	= kore libjansson-dev libpq-dev libhiredis-dev libjwt-dev \
		  libssl-dev libcurl4-openssl-dev gcc make
PKGS		+= docker-compose

deps-build:
	@deploy/deps.sh $(BUILD_PKGS)

build: build/concord_api.so bin/concord-worker bin/concord-admin

build/concord_api.so: $(API_SRC) $(COMMON_SRC) $(COMMON_HDR) $(wildcard api/*.h) \
    $(CODE_FILES) $(wildcard sql/migrations/*.sql)
	@mkdir -p build
	$(CC) $(CFLAGS_BASE) $(KORE_FEATURES) -fPIC -shared -o $@ \
	    $(API_SRC) $(COMMON_SRC) $(LIBS) -lcurl

bin/concord-worker: $(WORKER_SRC) $(COMMON_SRC) $(COMMON_HDR) worker/jobs.h \
    worker/webhook.h worker/wmetrics.h
	@mkdir -p bin
	$(CC) $(CFLAGS_BASE) -o $@ $(WORKER_SRC) $(COMMON_SRC) $(LIBS) $(WORKER_LIBS)

bin/concord-admin: $(ADMIN_SRC) $(COMMON_SRC) $(COMMON_HDR)
	@mkdir -p bin
	$(CC) $(CFLAGS_BASE) -o $@ $(ADMIN_SRC) $(COMMON_SRC) $(LIBS)

# Sanitizer flavour: the worker, the admin command and the unit tests.
asan: build/asan/concord-worker build/asan/concord-admin build/asan/unit

build/asan/concord-worker: $(WORKER_SRC) $(COMMON_SRC) $(COMMON_HDR)
	@mkdir -p build/asan
	$(CC) $(CFLAGS_BASE) $(SAN) -o $@ $(WORKER_SRC) $(COMMON_SRC) $(LIBS) \
	    $(WORKER_LIBS)

build/asan/concord-admin: $(ADMIN_SRC) $(COMMON_SRC) $(COMMON_HDR)
	@mkdir -p build/asan
	$(CC) $(CFLAGS_BASE) $(SAN) -o $@ $(ADMIN_SRC) $(COMMON_SRC) $(LIBS)

build/asan/unit: $(UNIT_SRC) $(COMMON_SRC) $(COMMON_HDR) tests/unit/main.c
	@mkdir -p build/asan
	$(CC) $(CFLAGS_BASE) $(SAN) -Wno-missing-prototypes \
	    -Wno-missing-declarations -o $@ tests/unit/main.c $(UNIT_SRC) \
	    $(COMMON_SRC) $(LIBS) -lcmocka

unit: build/asan/unit
	build/asan/unit

# Fuzz targets (libFuzzer, clang, with ASan and UBSan) for the parsers of
# outside input written in C. `make fuzz` runs each for FUZZ_SECONDS
# (default 60); `make test` runs each briefly. Seeds and regression
# inputs live in tests/fuzz/corpus/<target>/; new finds go to a scratch
# folder, and a crash stops the run with the input saved as crash-*.
FUZZ_TARGETS	= query jwt
FUZZ_SECONDS	?= 60
FUZZ_CC		= clang
FUZZ_FLAGS	= -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		  -fno-sanitize-recover=undefined -I/usr/include/postgresql \
		  -I/usr/include/hiredis

build/fuzz/query: tests/fuzz/fuzz_query.c common/query.c common/query.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_query.c common/query.c \
	    -ljansson

build/fuzz/jwt: tests/fuzz/fuzz_jwt.c common/auth.c common/auth.h common/config.h
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_jwt.c common/auth.c \
	    -ljwt -ljansson -lcrypto

fuzz: deps $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		scratch=$$(mktemp -d); \
		echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		    -artifact_prefix=build/fuzz/crash-$$t- $$scratch \
		    tests/fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1 || \
		    { tail -40 build/fuzz/$$t.log; rm -rf $$scratch; exit 1; }; \
		grep -E "stat::number_of_executed_runs|cov:" build/fuzz/$$t.log | tail -2; \
		rm -rf $$scratch; \
	done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SECONDS_SHORT:-8}

# Contract tooling from npm, pinned, in build/node (git-ignored): the two
# linters, Redoc for /docs, and the typed client's generator, runtime and
# compiler (tests/api/test_contract_tools.py). Installed again only when
# this list changes. npm comes with NodeSource's nodejs; stock Debian
# packages it apart.
NPM_PKGS	= @redocly/cli@1.34.20 @stoplight/spectral-cli@6.15.0 \
		  redoc@2.5.3 openapi-typescript@7.13.0 openapi-fetch@0.17.0 \
		  typescript@5.9.3 @types/node@20.19.43
NODE_BIN	= build/node/node_modules/.bin

build/node/.installed: Makefile
	@command -v npm >/dev/null || deploy/deps.sh npm
	@mkdir -p build/node
	@[ -f build/node/package.json ] || echo '{"private": true}' > build/node/package.json
	@npm install --prefix build/node --save-exact --no-audit --no-fund \
	    --no-update-notifier --loglevel=error $(NPM_PKGS) \
	    > build/node/install.log 2>&1 || { cat build/node/install.log; exit 1; }
	@echo "$(NPM_PKGS)" > $@

node: build/node/.installed

# The API reference at GET /docs: Redoc's standalone bundle and the
# contract in one page, with the Content-Security-Policy it needs.
build/docs.html: openapi/openapi.yaml openapi/docs.py build/node/.installed
	@python3 openapi/docs.py openapi/openapi.yaml \
	    build/node/node_modules/redoc/bundles/redoc.standalone.js \
	    build/docs.html build/docs.csp

docs: build/docs.html

# Both linters, 0 errors and 0 warnings (exceptions: .spectral.yaml,
# .redocly.lint-ignore.yaml).
lint-contract: node
	@$(NODE_BIN)/spectral lint -q -r .spectral.yaml --fail-severity=hint \
	    openapi/openapi.yaml
	@$(NODE_BIN)/redocly lint --config redocly.yaml \
	    --format=stylish openapi/openapi.yaml

# Run the service on the embedded stack (Ctrl-C stops everything).
run: deps build docs
	@deploy/stack.sh run

# Every test on throwaway state; non-zero exit on any failure.
test: deps build asan docs fuzz-short
	@deploy/stack.sh test

clean:
	rm -rf build bin
