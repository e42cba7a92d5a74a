# cpmd — GNU make + pkg-config.
#   make              release build: build/cpmd, build/cpm
#   make MODE=asan    ASan+UBSan build into build/asan/
#   make check        ASan build + every test (unit + integration), ends "N passed, N failed"
#   make unit         ASan build + unit tests only
#   make fuzz         libFuzzer harnesses (clang) into build/fuzz/
MODE ?= release
PKGS := libuv sqlite3 libcrypto jansson libxml-2.0 libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
# cpm only: line editing for cpm chat (libedit's readline interface)
CPM_PKGS := libedit
CPM_CFLAGS := $(shell pkg-config --cflags $(CPM_PKGS) 2>/dev/null)
CPM_LIBS := $(shell pkg-config --libs $(CPM_PKGS) 2>/dev/null)

ifeq ($(MODE),asan)
BUILD ?= build/asan
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
OPT := -O2 -g
endif

CC ?= cc
CFLAGS_ALL := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wshadow \
	-Wstrict-prototypes -Isrc $(PKG_CFLAGS) $(OPT) $(CFLAGS)
LDFLAGS_ALL := $(OPT) $(LDFLAGS)

# Library modules, in layer order.  app/ and cli/ hold the two programs.
MODULES := lib sip sdp msrp net txn store conf core im pres chat iwf http
LIB_SRC := $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CPMD_SRC := $(wildcard src/app/*.c)
CPM_SRC := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
UNIT_HELPERS := $(wildcard tests/unit/common/*.c)

.PHONY: all asan check unit unit-bins fuzz clean
all: $(BUILD)/cpmd $(BUILD)/cpm

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libcpm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/cpmd: $(CPMD_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libcpm.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

# "cpm bench" is the load generator of bench/loadgen.c (libc only), its
# main renamed so that the same file also builds standalone.
$(BUILD)/obj/bench/loadgen.o: bench/loadgen.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) -Wall -Wno-format-truncation -Dmain=cpm_cli_bench_main -c $< -o $@

$(BUILD)/obj/src/cli/%.o: src/cli/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CPM_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/cpm: $(CPM_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/bench/loadgen.o $(BUILD)/libcpm.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(CPM_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HELPERS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libcpm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -MMD -MP -MF $@.d -o $@ $< $(filter %.o %.a,$^) $(PKG_LIBS) -lcmocka

asan:
	$(MAKE) MODE=asan all unit-bins

unit-bins: $(UNIT_BIN)

unit:
	$(MAKE) MODE=asan all unit-bins
	./tests/run.sh --unit-only

check:
	$(MAKE) MODE=asan all unit-bins
	$(MAKE) MODE=release all
	./tests/run.sh

FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
fuzz: $(FUZZ_BIN)
IM_PURE := src/im/im_ind.c src/im/im_profile.c src/im/im_decide.c src/im/im_list.c
build/fuzz/fuzz_im: fuzz/fuzz_im.c $(filter src/lib/% src/sip/%,$(LIB_SRC)) $(IM_PURE)
	@mkdir -p $(dir $@)
	clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc $(shell pkg-config --cflags libxml-2.0) \
		-fsanitize=fuzzer,address,undefined -o $@ $^ -lcrypto $(shell pkg-config --libs libxml-2.0)
build/fuzz/%: fuzz/%.c $(filter src/lib/% src/sip/% src/sdp/% src/msrp/%,$(LIB_SRC))
	@mkdir -p $(dir $@)
	clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined -o $@ $^ -lcrypto

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CPMD_SRC:%.c=$(BUILD)/obj/%.d) $(CPM_SRC:%.c=$(BUILD)/obj/%.d) \
	$(UNIT_BIN:=.d)
