#!/usr/bin/env bash
# cpmd vs Kamailio: SIP MESSAGE relay benchmark on 127.0.0.1.
#
# usage: bench/run.sh [relay|callgrind|all|check|profile|store|...] ... (default: all)
#   relay      both servers up at once, 1000 users registered on each (SIPp,
#              Contact -> a UAS), then rate ladders, alternating the servers:
#              GENS=sipp    SIPp UAC + SIPp UAS (the Kamailio baseline's method)
#              GENS=loadgen bench/loadgen.c: UAC+UAS in one process, batched
#              sendmmsg/recvmmsg (a much lighter client)
#              REPEATS reps per generator; max sustained rate per rep, median.
#   callgrind  each server alone under valgrind --tool=callgrind: an idle run
#              (start, register 1000 users, wait, stop) and a relay run (same +
#              CG_MSGS MESSAGEs at CG_RATE/s); instructions per relayed
#              MESSAGE = (Ir relay - Ir idle) / MESSAGEs; REPEATS reps, median.
#   check      start both servers, register, relay 1000 MESSAGEs on each, stop.
#   profile    perf record (cycles, call graphs) of each server while loadgen
#              relays PROFILE_RATE msg/s for PROFILE_S s; top symbols to
#              perf_<server>.txt (user + kernel).  Needs perf (linux-perf).
#   all        relay callgrind
#   store      the store-and-forward benchmark (issue 3): store-rate drain
#              durability store-callgrind, each also a command of its own;
#              store-check is its smoke test.  See bench/store.sh.
#   presence   the presence benchmark (issue 5): publish-rate fanout, each
#              also a command; presence-callgrind (instructions per PUBLISH
#              and per NOTIFY); presence-check.  See bench/presence.sh.
#   msrp-relay the MSRP relay benchmark (issue 4), bench/msrp_relay.sh into
#              OUT/msrp-relay; msrp-callgrind: its instructions per message.
#
# Prerequisites (Debian 12): kamailio kamailio-sqlite-modules sip-tester
# valgrind sqlite3 sipsak (plus the cpmd build deps; run.sh builds loadgen
# with cc and cpmd with make if build/cpmd is missing).
#
# Every knob is an environment variable (defaults below).  Results go to
# bench/out/<timestamp>/ (OUT=... to override): relay_<gen>.tsv (one line per
# rate step), callgrind.tsv, summary.txt, summary.md, logs, callgrind files.
# Everything listens on 127.0.0.1 only; every process started here is killed
# on exit.
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SCEN=$HERE/scenarios

# ------------------------------------------------------------ parameters
: "${KAM_DIR:=$REPO/../shared/bench/kamailio}"   # holds kamailio.cfg
: "${KAM_CFG:=$KAM_DIR/kamailio.cfg}"
: "${KAM_PORT:=5070}"            # fixed by kamailio.cfg
: "${KAM_CHILDREN:=4}"           # UDP workers (-n), as in the baseline
: "${KAM_MEM:=tlsf}"             # -x memory manager, as in the baseline
: "${KAM_SHM_MB:=2048}"
: "${KAM_PKG_MB:=16}"
: "${KAM_SCHEMA_DIR:=/usr/share/kamailio/db_sqlite}"
: "${KAM_SCHEMAS:=standard msilo usrloc}"  # tables of Kamailio's SQLite file (presence: standard presence)
: "${CPMD:=$REPO/build/cpmd}"    # release build
: "${CPMD_REV:=}"                # what CPMD was built from, for env.txt (default: repo HEAD + dirty count)
: "${CPMD_PORT:=5170}"
# cpmd keeps a completed non-INVITE server transaction for Timer J = 64*T1
# = 32 s over UDP (RFC 3261 17.2.2), so R msg/s keep ~37*R transactions
# alive (client ones for T4 = 5 s); the default sip.max_transactions=200000
# would answer 503 above ~5,400 msg/s.  Kamailio's tm has no such cap (its
# wait timer is 5 s; the baseline gives it 2 GB of shm), so raise it.
: "${CPMD_OPTS:=-o sip.max_transactions=2000000}"
: "${CPMD_EXTRA_OPTS:=}"         # more -o options (the store test adds its own)
: "${CPMD_DB_TEMPLATE:=}"        # copied to the data dir at each start (store test: users)
: "${MSILO_CHECK_TIME:=5}"       # msilo: seconds between deletions of delivered rows
: "${SRV_WRAP:=}"                # command prefix for the server (store durability probe)
: "${KAM_UAS_PORT:=5181}"        # callee UAS of Kamailio's users (SIPp or loadgen)
: "${CPMD_UAS_PORT:=5182}"       # callee UAS of cpmd's users
: "${REG_PORT:=5183}"            # SIPp REGISTER UAC
: "${UAC_PORT:=5184}"            # SIPp MESSAGE UAC
: "${LG_PORT:=5185}"             # loadgen UAC socket
: "${N_USERS:=1000}"
: "${GENS:=sipp loadgen}"        # load generators for the relay ladders
: "${SERVERS:=kamailio cpmd}"
: "${REPEATS:=3}"
: "${DURATION:=10}"              # seconds per rate step
: "${FAIL_MAX_PCT:=0.1}"         # pass: failed <= 0.1 % of sent ...
: "${MIN_ACHIEVED:=0.95}"        # ... and achieved >= 95 % of the target
: "${SETTLE:=2}"                 # rest after a passed step (s)
: "${FAIL_SETTLE:=8}"            # rest after a failed step: retransmissions and
                                 # transaction timers (4-5 s) drain ...
: "${FAIL_SETTLE_MAX:=20}"       # ... and up to this long until the server is quiet
: "${SIPP_START:=6000}"          # SIPp ladder: start, coarse step, fine step, cap
: "${SIPP_STEP:=3000}"
: "${SIPP_FINE:=1000}"
: "${SIPP_MAX:=60000}"
: "${LG_START:=6000}"            # loadgen ladder
: "${LG_STEP:=3000}"
: "${LG_FINE:=1000}"
: "${LG_MAX:=100000}"
: "${LG_BATCH:=64}"
: "${UAS_HOLD_MS:=4000}"         # SIPp UAS keeps an answered MESSAGE (re-answers retransmissions)
: "${SIPP_LIMIT:=20000}"
: "${SIPP_BUF:=4194304}"
: "${WARMUP_RATE:=5000}"           # warm-up of each server before the ladders (loadgen)
: "${WARMUP_S:=10}"
: "${CG_MSGS:=1000}"             # callgrind: MESSAGEs per relay run
: "${CG_RATE:=100}"
: "${CG_REG_RATE:=100}"           # REGISTERs/s under valgrind (no retransmissions wanted)
: "${CG_TRIES:=3}"               # redo a callgrind run that saw retransmissions or failures
: "${CG_SETTLE:=8}"              # after the last MESSAGE: transactions end (T4 / wait timer 5 s)
: "${CG_SERVERS:=$SERVERS}"
: "${PROFILE_RATE:=4000}"
: "${PROFILE_S:=10}"
: "${OUT:=$HERE/out/$(date -u +%Y%m%d-%H%M%S)}"

HZ=$(getconf CLK_TCK)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)   # absolute: Kamailio changes its directory
LOG=$OUT/run.log
KAM_RUN=$OUT/kamailio-run
CPMD_RUN=$OUT/cpmd-run
LOADGEN=$OUT/loadgen

declare -A SRV_PID=() UAS_PID=()
BG_PIDS=()

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ------------------------------------------------------------ cleanup
kill_tree() { # pid: TERM the pid and its children, KILL after 10 s
	local p=$1 k
	kill -0 "$p" 2>/dev/null || return 0
	local kids; kids=$(ps -o pid= --ppid "$p" 2>/dev/null)
	kill -TERM "$p" 2>/dev/null
	for k in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" $kids 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}
cleanup() {
	local p
	for p in "${UAS_PID[@]}" "${SRV_PID[@]}" "${BG_PIDS[@]}"; do
		[ -n "$p" ] && kill_tree "$p"
	done
	UAS_PID=(); SRV_PID=(); BG_PIDS=()
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ------------------------------------------------------------ helpers
ticks() { # utime+stime (clock ticks) summed over the given pids
	local t=0 p s
	for p in "$@"; do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
all_ticks() { cat /proc/[0-9]*/stat 2>/dev/null | awk '{sub(/^.*\) /,""); t+=$12+$13} END{print t+0}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{if(!NR)print "NA"; else if(NR%2)print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
port_of() { [ "$1" = kamailio ] && echo "$KAM_PORT" || echo "$CPMD_PORT"; }
uas_port_of() { [ "$1" = kamailio ] && echo "$KAM_UAS_PORT" || echo "$CPMD_UAS_PORT"; }
srv_pids() { # the server's process and its children (Kamailio forks workers)
	local p=${SRV_PID[$1]:-}
	[ -n "$p" ] || return 0
	echo "$p" $(ps -o pid= --ppid "$p")
}
# the servers in the order of repetition $1: alternate who goes first
rep_order() { if [ $(($1 % 2)) -eq 0 ]; then echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' '; else echo "$SERVERS"; fi; }
udp_bound() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
wait_sip() { # port seconds: wait until an OPTIONS ping gets an answer
	local port=$1 n=$(( $2 * 5 )) i
	for i in $(seq 1 "$n"); do
		if command -v sipsak >/dev/null; then
			sipsak -s "sip:127.0.0.1:$port" >/dev/null 2>&1 && return 0
		elif udp_bound "$port"; then
			sleep 1; return 0
		fi
		sleep 0.2
	done
	return 1
}
ports_free() {
	local p
	for p in "$@"; do udp_bound "$p" && die "UDP port $p is in use: $(ss -Hlunp "sport = :$p")"; done
	return 0
}

make_users() {
	{ echo SEQUENTIAL; for i in $(seq 1 "$N_USERS"); do printf 'user%05d;\n' "$i"; done; } > "$OUT/users.csv"
}

build() {
	if [ ! -x "$CPMD" ]; then
		log "building cpmd (make -j2)"
		make -C "$REPO" -j2 >> "$LOG" 2>&1 || die "make failed"
	fi
	cc -O2 -Wall -o "$LOADGEN" "$HERE/loadgen.c" || die "cannot build loadgen"
	# run a private copy: build/cpmd may be rebuilt by someone else mid-run
	mkdir -p "$OUT/bin"
	cp "$CPMD" "$OUT/bin/cpmd" || die "cannot copy $CPMD"
	CPMD_SRC=$CPMD
	CPMD=$OUT/bin/cpmd
}

# ------------------------------------------------------------ servers
kam_db() {
	local db=$KAM_RUN/msilo.sqlite
	rm -f "$db" "$db-wal" "$db-shm" "$db-journal"
	local t
	for t in $KAM_SCHEMAS; do cat "$KAM_SCHEMA_DIR/$t-create.sql"; done | sqlite3 "$db" || die "kamailio db"
	sqlite3 "$db" 'PRAGMA journal_mode=WAL;' >/dev/null
}

# start_server name [callgrind_dir]
start_server() {
	local s=$1 cg=${2:-} vg=()
	if [ -n "$cg" ]; then
		vg=(valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$cg/callgrind.out.%p")
	elif [ -n "$SRV_WRAP" ]; then
		vg=($SRV_WRAP)    # e.g. strace (bench/store.sh durability probe)
	fi
	case $s in
	kamailio)
		[ -f "$KAM_CFG" ] || die "no $KAM_CFG (set KAM_DIR)"
		mkdir -p "$KAM_RUN"; kam_db
		rm -f "$KAM_RUN/kamailio.pid" "$KAM_RUN/kamailio_ctl"
		local args=(-f "$KAM_CFG" -DD -E -M "$KAM_PKG_MB" -x "$KAM_MEM" -P "$KAM_RUN/kamailio.pid"
			-A "DBURL=\"sqlite://$KAM_RUN/msilo.sqlite\"" -A "RUNDIR=\"$KAM_RUN\""
			-A "CTLSOCK=\"unix:$KAM_RUN/kamailio_ctl\"" -A "MSILO_CHECK_TIME=$MSILO_CHECK_TIME")
		if [ -n "$cg" ]; then args+=(-m 128 -A CALLGRIND); else args+=(-m "$KAM_SHM_MB" -n "$KAM_CHILDREN"); fi
		"${vg[@]}" kamailio "${args[@]}" >> "${cg:-$KAM_RUN}/kamailio.log" 2>&1 &
		SRV_PID[$s]=$!
		;;
	cpmd)
		rm -rf "$CPMD_RUN"; mkdir -p "$CPMD_RUN/var"
		# the store test starts from a database that holds its users
		[ -n "$CPMD_DB_TEMPLATE" ] && { cp "$CPMD_DB_TEMPLATE" "$CPMD_RUN/var/cpmd.db" || die "db template"; }
		"${vg[@]}" "$CPMD" -o auth.trusted=127.0.0.0/8 -o server.log_level=warn \
			-o server.data_dir="$CPMD_RUN/var" -o store.url="sqlite:$CPMD_RUN/var/cpmd.db" \
			-o sip.listen="udp:127.0.0.1:$CPMD_PORT,tcp:127.0.0.1:$CPMD_PORT" \
			-o http.listen= $CPMD_OPTS $CPMD_EXTRA_OPTS >> "${cg:-$CPMD_RUN}/cpmd.log" 2>&1 &
		SRV_PID[$s]=$!
		;;
	esac
	wait_sip "$(port_of "$s")" 60 || die "$s did not come up"
	log "$s up (pid ${SRV_PID[$s]}${cg:+, under callgrind})"
}

stop_server() {
	local s=$1 p=${SRV_PID[$1]:-}
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	local i
	for i in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill_tree "$p"
	unset "SRV_PID[$s]"
	log_summary "$s"
}

# What the server logged (warnings/errors, by kind): overload symptoms, and
# stray traffic from other programs on the same ports.
log_summary() {
	local f
	for f in "$KAM_RUN/kamailio.log" "$CPMD_RUN/cpmd.log"; do
		case $f in *"$1"*) ;; *) continue ;; esac
		[ -s "$f" ] || continue
		{
			echo "== $1 log at $(date -u +%T): $(wc -l < "$f") lines; most frequent:"
			sed -E 's/^ *[0-9]+\([0-9]+\) //; s/\{[^}]*\} //; s/[0-9a-f]{8,}/X/g; s/[0-9]+/N/g' "$f" | cut -c1-150 |
				sort | uniq -c | sort -rn | head -8
		} >> "$OUT/server_logs.txt"
		: > "$f"
	done
}

# ------------------------------------------------------------ SIPp
# parse the last line of a SIPp -trace_stat CSV into shell variables
sipp_stat() {
	awk -F';' 'NR==1{for(i=1;i<=NF;i++){h[$i]=i;hn[i]=$i}; nh=NF; next} {l=$0} END{
		split(l,f,";");
		split(f[h["StartTime"]],a,"\t"); split(f[h["CurrentTime"]],b,"\t");
		el=b[3]-a[3];
		split(f[h["ResponseTime1(C)"]],r,":"); rt=(r[1]*3600+r[2]*60+r[3])*1000+r[4]/1000;
		tot=0; for(i=1;i<=nh;i++) if(hn[i]~/^ResponseTimeRepartition1_/) tot+=f[i];
		p50="NA"; p99="NA"; c=0;
		for(i=1;i<=nh;i++) if(hn[i]~/^ResponseTimeRepartition1_/){
			lab=hn[i]; sub(/^ResponseTimeRepartition1_/,"",lab); sub(/^_/,"",lab); c+=f[i];
			if(p50=="NA"&&tot>0&&c>=0.5*tot)p50=lab; if(p99=="NA"&&tot>0&&c>=0.99*tot)p99=lab}
		printf "elapsed=%.3f sent=%d success=%d failed=%d timeouts=%d unexpected=%d retrans=%d rtt_ms=%.3f rtt_p50_ms=\"%s\" rtt_p99_ms=\"%s\"\n",
			el, f[h["TotalCallCreated"]], f[h["SuccessfulCall(C)"]], f[h["FailedCall(C)"]],
			f[h["FailedTimeoutOnRecv(C)"]]+f[h["FailedMaxUDPRetrans(C)"]],
			f[h["FailedUnexpectedMessage(C)"]], f[h["Retransmissions(C)"]], rt, p50, p99}' "$1"
}

uas_start() { # server
	local s=$1 port; port=$(uas_port_of "$1")
	sipp -sf "$SCEN/uas_msg.xml" -t u1 -i 127.0.0.1 -p "$port" -d "$UAS_HOLD_MS" \
		-l 400000 -buff_size "$SIPP_BUF" -nostdin -default_behaviors all,-bye \
		> "$OUT/uas_$s.$port.out" 2>&1 &
	UAS_PID[$s]=$!
	sleep 0.5
	kill -0 "${UAS_PID[$s]}" 2>/dev/null || die "SIPp UAS for $s did not start ($OUT/uas_$s.$port.out)"
}
uas_stop() {
	local p=${UAS_PID[$1]:-}
	[ -n "$p" ] && kill_tree "$p"
	unset "UAS_PID[$1]"
}

register() { # server rate tag -> sets REG_OK REG_RETRANS
	local s=$1 rate=$2 tag=$3
	timeout $(( N_USERS / rate + 60 )) sipp "127.0.0.1:$(port_of "$s")" -sf "$SCEN/reg.xml" \
		-inf "$OUT/users.csv" -t u1 -i 127.0.0.1 -p "$REG_PORT" -key uas_port "$(uas_port_of "$s")" \
		-m "$N_USERS" -r "$rate" -l "$SIPP_LIMIT" -nostdin -default_behaviors all,-bye \
		-trace_stat -stf "$OUT/$tag.reg_stat.csv" > "$OUT/$tag.reg.out" 2>&1
	local elapsed sent success failed timeouts unexpected retrans rtt_ms rtt_p50_ms rtt_p99_ms
	eval "$(sipp_stat "$OUT/$tag.reg_stat.csv")"
	REG_OK=$success REG_RETRANS=$retrans
	log "register $tag: $success/$N_USERS 200 OK, $retrans retransmissions"
	[ "$success" -eq "$N_USERS" ]
}

# ------------------------------------------------------------ one step
STEP_HDR="gen\tserver\trep\ttarget\tachieved\tsent\tsuccess\tfailed\tfail_pct\ttimeouts\tunexpected\tretrans\trtt_ms\tp50_ms\tp99_ms\tsrv_cpu_pct\tsrv_us_per_msg\tuac_cpu_pct\tuas_cpu_pct\tgen_us_per_msg\tother_cpu_pct\tpass\tsrv_log_lines\tunexp_5xx\trows_added"
# What a step sends (the store test overrides these, see bench/store.sh):
# the TSV name prefix, the SIPp scenario and injection file, the loadgen
# user prefix / expected status / UAS port ("" = the server's callee UAS),
# and a function printing the server's stored-row count ("" = none).
STEP_KIND=relay
STEP_SCEN=
STEP_CSV=
STEP_LG_PREFIX=user
STEP_LG_EXPECT=200
STEP_LG_UAS=
STEP_ROWS_FN=

# step gen server rep rate -> appends to relay_<gen>.tsv; returns 0 on pass
step() {
	local gen=$1 s=$2 rep=$3 rate=$4
	local tag=$gen.$s.r$rep.$rate count=$(( rate * DURATION ))
	local spids; spids=$(srv_pids "$s")
	local upid=${UAS_PID[$s]:-}
	local s0 u0=0 a0 s1 u1=0 a1 t0 t1
	local elapsed sent success failed timeouts unexpected retrans rtt_ms rtt_p50_ms rtt_p99_ms
	local uac_cpu=0 uas_cpu=0 gen_us=0
	local lf=$KAM_RUN/kamailio.log l0 l1; [ "$s" = cpmd ] && lf=$CPMD_RUN/cpmd.log
	l0=$(wc -l < "$lf" 2>/dev/null || echo 0)
	local r0=NA r1=NA unexp_5xx=NA first_unexp=
	[ -n "$STEP_ROWS_FN" ] && r0=$("$STEP_ROWS_FN" "$s")
	s0=$(ticks $spids); [ -n "$upid" ] && u0=$(ticks "$upid"); a0=$(all_ticks); t0=$(date +%s.%N)
	if [ "$gen" = sipp ]; then
		local TIMEFORMAT='%R %U %S'
		{ time timeout $(( DURATION * 3 + 40 )) sipp "127.0.0.1:$(port_of "$s")" -sf "${STEP_SCEN:-$SCEN/uac_msg.xml}" \
			-inf "${STEP_CSV:-$OUT/users.csv}" -t u1 -i 127.0.0.1 -p "$UAC_PORT" -r "$rate" -rp 1000 \
			-m "$count" -l "$SIPP_LIMIT" -buff_size "$SIPP_BUF" -nostdin \
			-default_behaviors all,-bye -trace_stat -stf "$OUT/$tag.stat.csv" -fd 1 \
			> "$OUT/$tag.out" 2>&1 ; } 2> "$OUT/$tag.time"
		eval "$(sipp_stat "$OUT/$tag.stat.csv")"
		local w us sy; read -r w us sy < "$OUT/$tag.time"
		uac_cpu=$(awk -v w="$w" -v u="$us" -v s="$sy" 'BEGIN{printf "%.1f", (w>0?100*(u+s)/w:0)}')
		s1=$(ticks $spids); [ -n "$upid" ] && u1=$(ticks "$upid"); a1=$(all_ticks); t1=$(date +%s.%N)
		uas_cpu=$(awk -v d=$((u1 - u0)) -v hz="$HZ" -v w="$w" 'BEGIN{printf "%.1f", (w>0?100*d/hz/w:0)}')
		gen_us=$(awk -v u="$us" -v s="$sy" -v d=$((u1 - u0)) -v hz="$HZ" -v n="$sent" \
			'BEGIN{printf "%.1f", (n>0?1e6*(u+s+d/hz)/n:0)}')
	else
		local line
		line=$(timeout $(( DURATION * 3 + 40 )) "$LOADGEN" --target "127.0.0.1:$(port_of "$s")" \
			--rate "$rate" --duration "$DURATION" --users "$N_USERS" --uac-port "$LG_PORT" \
			--prefix "$STEP_LG_PREFIX" --expect "$STEP_LG_EXPECT" \
			--uas-port "${STEP_LG_UAS:-$(uas_port_of "$s")}" --batch "$LG_BATCH" 2> "$OUT/$tag.err")
		echo "$line" > "$OUT/$tag.out"
		local target_rate pending achieved uas_answered uas_bad stale send_eagain wall cpu_user_s cpu_sys_s cpu_pct cpu_us_per_msg
		eval "$line"
		s1=$(ticks $spids); a1=$(all_ticks); t1=$(date +%s.%N)
		uac_cpu=${cpu_pct:-0}; uas_cpu=0; gen_us=${cpu_us_per_msg:-0}
	fi
	l1=$(wc -l < "$lf" 2>/dev/null || echo 0)
	[ -n "$STEP_ROWS_FN" ] && r1=$("$STEP_ROWS_FN" "$s")
	local line
	line=$(awk -v gen="$gen" -v srv="$s" -v rep="$rep" -v rate="$rate" -v el="${elapsed:-0}" \
		-v sent="${sent:-0}" -v su="${success:-0}" -v fa="${failed:-0}" -v to="${timeouts:-0}" \
		-v un="${unexpected:-0}" -v re="${retrans:-0}" -v rtt="${rtt_ms:-0}" -v p50="${rtt_p50_ms:-NA}" \
		-v p99="${rtt_p99_ms:-NA}" -v ds=$((s1 - s0)) -v hz="$HZ" -v w0="$t0" -v w1="$t1" \
		-v uac="$uac_cpu" -v uas="$uas_cpu" -v gus="$gen_us" \
		-v oth=$(( (a1 - a0) - (s1 - s0) )) -v ll=$(( l1 - l0 )) -v fmax="$FAIL_MAX_PCT" -v amin="$MIN_ACHIEVED" \
		-v u5="$unexp_5xx" -v r0="$r0" -v r1="$r1" 'BEGIN{
		wall = w1 - w0; ach = el > 0 ? su / el : 0; fp = sent > 0 ? 100 * fa / sent : 100;
		srvp = wall > 0 ? 100 * ds / hz / wall : 0; sus = su > 0 ? 1e6 * ds / hz / su : 0;
		# other = every process alive at both ends of the step except the
		# server and the SIPp UAS (the UAC process is born and gone within)
		othp = wall > 0 ? 100 * oth / hz / wall - uas : 0;
		pass = (fp <= fmax && ach >= amin * rate && sent > 0) ? "PASS" : "FAIL";
		rows = (r0 ~ /^[0-9]+$/ && r1 ~ /^[0-9]+$/) ? r1 - r0 : "NA";
		printf "%s\t%s\t%d\t%d\t%.1f\t%d\t%d\t%d\t%.3f\t%d\t%d\t%d\t%.3f\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%d\t%s\t%s",
			gen, srv, rep, rate, ach, sent, su, fa, fp, to, un, re, rtt, p50, p99, srvp, sus, uac, uas, gus, othp, pass, ll, u5, rows }')
	echo -e "$line" >> "$OUT/${STEP_KIND}_$gen.tsv"
	log "$(echo -e "$line" | awk -F'\t' '{printf "%s %-8s rep%s rate=%-6s achieved=%-8s fail=%s (%.3f%%) retrans=%s rtt=%sms p99<=%sms srv=%s%% (%sus/msg) uac=%s%% uas=%s%% gen=%sus/msg other=%s%% %s log+%s%s",$1,$2,$3,$4,$5,$8,$9,$12,$13,$15,$16,$17,$18,$19,$20,$21,$22,$23,($25!="NA"?" 5xx="$24" rows+"$25:"")}')"
	if [[ $line == *PASS* ]]; then sleep "$SETTLE"; return 0; fi
	# after an overload: rest FAIL_SETTLE s, then until the server is quiet
	# (< 10 % of a core over 1 s; retransmission and store backlogs) or
	# FAIL_SETTLE_MAX s have passed
	sleep "$FAIL_SETTLE"
	local waited=$FAIL_SETTLE q0 q1
	while [ "$waited" -lt "$FAIL_SETTLE_MAX" ]; do
		q0=$(ticks $spids); sleep 1; q1=$(ticks $spids); waited=$((waited + 1))
		[ $((q1 - q0)) -le $((HZ / 10)) ] && break
	done
	[ "$waited" -gt $((FAIL_SETTLE + 1)) ] && log "  (waited ${waited}s for $s to calm down)"
	return 1
}

# ladder gen server rep start step fine max -> echoes the best passing rate.
# Coarse steps up from start until one fails; if the very first fails, halve
# until one passes.  Then fine steps up from the best pass until one fails
# (or the next coarse rate, known to fail, is reached).
ladder() {
	local gen=$1 s=$2 rep=$3 start=$4 stp=$5 fine=$6 max=$7 rate best=0 hi
	rate=$start
	while [ "$rate" -le "$max" ]; do
		step "$gen" "$s" "$rep" "$rate" || break
		best=$rate; rate=$((rate + stp))
	done
	hi=$rate
	if [ "$best" -eq 0 ]; then
		rate=$(( start / 2 / fine * fine ))
		while [ "$rate" -ge "$fine" ]; do
			if step "$gen" "$s" "$rep" "$rate"; then best=$rate; break; fi
			hi=$rate
			rate=$(( rate / 2 / fine * fine ))
		done
	fi
	if [ "$best" -gt 0 ] && [ "$hi" -le "$max" ] && [ "$fine" -gt 0 ]; then
		rate=$((best + fine))
		while [ "$rate" -lt "$hi" ]; do
			step "$gen" "$s" "$rep" "$rate" || break
			best=$rate; rate=$((rate + fine))
		done
	fi
	echo "$best"
}

# ------------------------------------------------------------ tests
# ladder_reps gen fresh start step fine max: REPEATS ladders per server,
# alternating which server goes first; fresh=1 starts each server (with an
# empty store) for each ladder and stops it after.  Best rate per ladder to
# <STEP_KIND>_best.tsv, medians to summary.txt.
ladder_reps() {
	local gen=$1 fresh=$2 rep s best
	declare -A bests=()
	for rep in $(seq 1 "$REPEATS"); do
		for s in $(rep_order "$rep"); do
			[ -n "$fresh" ] && start_server "$s"
			best=$(ladder "$gen" "$s" "$rep" "$3" "$4" "$5" "$6")
			log "$STEP_KIND[$gen] $s rep $rep: max sustained rate $best msg/s${STEP_ROWS_FN:+; rows now $("$STEP_ROWS_FN" "$s")}"
			[ -n "$fresh" ] && stop_server "$s"
			bests[$s]="${bests[$s]:-} $best"
			echo -e "$gen\t$s\t$rep\t$best" >> "$OUT/${STEP_KIND}_best.tsv"
		done
	done
	for s in $SERVERS; do
		echo "$STEP_KIND[$gen] $s: max sustained rate per rep:${bests[$s]} -> median $(echo "${bests[$s]}" | median) msg/s" | tee -a "$OUT/summary.txt"
	done
}

setup_relay() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$KAM_UAS_PORT" "$CPMD_UAS_PORT" "$REG_PORT" "$UAC_PORT" "$LG_PORT"
	local s
	for s in $SERVERS; do
		start_server "$s"
		uas_start "$s"
		register "$s" 1000 "relay.$s" || die "registration on $s failed"
	done
}

test_relay() {
	setup_relay
	local s gen
	echo -e "$STEP_HDR" > "$OUT/relay_sipp.tsv"; echo -e "$STEP_HDR" > "$OUT/relay_loadgen.tsv"
	# warm-up (rep 0, not counted): loadgen at WARMUP_RATE for WARMUP_S s
	# per server, so that both have touched their memory (Kamailio's 2 GB shm,
	# cpmd's heap) before the first measured step
	for s in $SERVERS; do uas_stop "$s"; done
	for s in $SERVERS; do
		DURATION=$WARMUP_S step loadgen "$s" 0 "$WARMUP_RATE" || log "warm-up on $s failed"
	done
	sleep 5
	for s in $SERVERS; do uas_start "$s"; done
	for gen in $GENS; do
		if [ "$gen" = loadgen ]; then
			# the loadgen process binds the UAS ports itself
			for s in $SERVERS; do uas_stop "$s"; done
		fi
		if [ "$gen" = sipp ]; then
			ladder_reps "$gen" "" "$SIPP_START" "$SIPP_STEP" "$SIPP_FINE" "$SIPP_MAX"
		else
			ladder_reps "$gen" "" "$LG_START" "$LG_STEP" "$LG_FINE" "$LG_MAX"
		fi
	done
	for s in $SERVERS; do uas_stop "$s"; stop_server "$s"; done
}

test_check() {
	setup_relay
	local s
	echo -e "$STEP_HDR" > "$OUT/relay_sipp.tsv"; echo -e "$STEP_HDR" > "$OUT/relay_loadgen.tsv"
	for s in $SERVERS; do step sipp "$s" 0 500; done
	for s in $SERVERS; do uas_stop "$s"; done
	for s in $SERVERS; do step loadgen "$s" 0 500; done
	for s in $SERVERS; do stop_server "$s"; done
}

cg_ir() { # dir -> total Ir over every callgrind.out file (all processes)
	local f tot=0 ir
	for f in "$1"/callgrind.out.*; do
		[ -f "$f" ] || continue
		ir=$(awk '/^summary:/{print $2; exit}' "$f"); [ -n "$ir" ] || ir=$(awk '/^totals:/{print $2; exit}' "$f")
		tot=$((tot + ${ir:-0}))
	done
	echo "$tot"
}

# cg_campaign TSV DIR BUSY REPS FN: callgrind runs of each of CG_SERVERS,
# REPS times: an idle run and a BUSY run, each a fresh server under
# callgrind in DIR/<server>/r<rep>/<run>.  "FN server run rundir rep" makes
# the run's traffic (and waits for the server to settle) and sets CG_N
# (messages handled), CG_NOISE (its noise columns, tab-separated) and
# CG_CLEAN (1: no retransmission, no failure).  A run that is not clean is
# redone, CG_TRIES times at most.  One line per run in TSV:
# server rep run msgs procs Ir noise...
CG_N=0 CG_NOISE= CG_CLEAN=1
cg_campaign() {
	local tsv=$1 dir=$2 busy=$3 reps=$4 fn=$5 rep s run rd try ir procs
	for rep in $(seq 1 "$reps"); do
		for s in $CG_SERVERS; do
			for run in idle "$busy"; do
				for try in $(seq 1 "$CG_TRIES"); do
					rd=$dir/$s/r$rep/$run
					rm -rf "$rd"; mkdir -p "$rd"
					start_server "$s" "$rd"
					CG_N=0 CG_NOISE= CG_CLEAN=1
					"$fn" "$s" "$run" "$rd" "$rep"
					stop_server "$s"
					sleep 1
					ir=$(cg_ir "$rd"); procs=$(ls "$rd"/callgrind.out.* 2>/dev/null | wc -l)
					echo -e "$s\t$rep\t$run\t$CG_N\t$procs\t$ir\t$CG_NOISE" >> "$tsv"
					log "callgrind $s rep $rep $run: msgs=$CG_N procs=$procs Ir=$ir (noise: $(echo -e "$CG_NOISE" | tr '\t' ' '))"
					[ "$CG_CLEAN" = 1 ] && break
					log "callgrind $s rep $rep $run: WARNING: retransmissions or failures add noise (try $try of $CG_TRIES)"
					[ "$try" -lt "$CG_TRIES" ] && sed -i '$d' "$tsv"   # redo: drop the noisy line
				done
			done
		done
	done
}

# cg_per_msg TSV server BUSY -> per rep: (Ir of the BUSY run - Ir of the
# idle run) / messages of the BUSY run
cg_per_msg() {
	awk -F'\t' -v s="$2" -v b="$3" 'NR>1 && $1==s {ir[$2" "$3]=$6; n[$2" "$3]=$4; if($2>m)m=$2} END{
		for(k=1;k<=m;k++) if(n[k" "b]>0 && (k" idle") in ir) printf "%.0f ", (ir[k" "b]-ir[k" idle"])/n[k" "b]}' "$1"
}

# the traffic of one relay callgrind run (see cg_campaign)
cg_relay_run() {
	local s=$1 run=$2 rd=$3 rep=$4 sendtime=$(( (CG_MSGS + CG_RATE - 1) / CG_RATE ))
	uas_start "$s"
	register "$s" "$CG_REG_RATE" "cg.$s.r$rep.$run" || log "callgrind: registration incomplete"
	local regre=$REG_RETRANS msgre=0 msgfail=0
	sleep 2
	if [ "$run" = idle ]; then
		sleep "$sendtime"
	else
		timeout $(( sendtime * 3 + 60 )) sipp "127.0.0.1:$(port_of "$s")" -sf "$SCEN/uac_msg.xml" \
			-inf "$OUT/users.csv" -t u1 -i 127.0.0.1 -p "$UAC_PORT" -r "$CG_RATE" \
			-m "$CG_MSGS" -l "$SIPP_LIMIT" -nostdin -default_behaviors all,-bye \
			-trace_stat -stf "$rd/uac_stat.csv" > "$rd/uac.out" 2>&1
		local elapsed sent success failed timeouts unexpected retrans rtt_ms rtt_p50_ms rtt_p99_ms
		eval "$(sipp_stat "$rd/uac_stat.csv")"
		CG_N=$success; msgre=$retrans; msgfail=$failed
	fi
	sleep "$CG_SETTLE"
	uas_stop "$s"
	CG_NOISE="$regre\t$msgre\t$msgfail"
	[ "$regre" -eq 0 ] && [ "$msgre" -eq 0 ] && [ "$msgfail" -eq 0 ] || CG_CLEAN=0
}

test_callgrind() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$KAM_UAS_PORT" "$CPMD_UAS_PORT" "$REG_PORT" "$UAC_PORT"
	local tsv=$OUT/callgrind.tsv s
	echo -e "server\trep\trun\tmsgs\tprocs\tIr_total\treg_retrans\tmsg_retrans\tmsg_failed" > "$tsv"
	cg_campaign "$tsv" "$OUT/callgrind" relay "$REPEATS" cg_relay_run
	for s in $CG_SERVERS; do
		local vals; vals=$(cg_per_msg "$tsv" "$s" relay)
		echo "callgrind $s: instructions per relayed MESSAGE (relay run - idle run, all processes) per rep: $vals-> median $(echo "$vals" | median)" | tee -a "$OUT/summary.txt"
	done
	# where the instructions go: per-function (relay - idle) / MESSAGEs, rep 1
	for s in $CG_SERVERS; do cg_top "$s" 1; done
}

# cg_top server rep [tsv dir busy prefix]: top functions by instructions
# per MESSAGE of the busy run (default: the relay test's)
cg_top() {
	local s=$1 rep=$2 tsv=${3:-$OUT/callgrind.tsv} busy=${5:-relay} prefix=${6:-callgrind_top}
	local d=${4:-$OUT/callgrind}/$1/r$2 run f incl n
	n=$(awk -F'\t' -v s="$s" -v r="$rep" -v b="$busy" '$1==s && $2==r && $3==b {print $4}' "$tsv")
	[ -n "$n" ] && [ "$n" -gt 0 ] || return 0
	for incl in no yes; do
		for run in idle "$busy"; do
			: > "$d/$run.functions.$incl"
			for f in "$d/$run"/callgrind.out.*; do
				[ -f "$f" ] || continue
				callgrind_annotate --inclusive=$incl --tree=none --auto=no --threshold=100 "$f" 2>/dev/null | awk '
					/^ *[0-9][0-9,]* \( *[0-9.]+%\)  / {
						ir = $1; gsub(/,/, "", ir); l = $0
						sub(/^ *[0-9,]+ \( *[0-9.]+%\)  /, "", l)
						if (l ~ /PROGRAM TOTALS/) next
						obj = ""; if (match(l, / \[[^]]*\]$/)) { obj = substr(l, RSTART + 2, RLENGTH - 3); l = substr(l, 1, RSTART - 1) }
						sub(/.*\//, "", obj); n = split(l, a, ":"); fn = a[n]
						# inlined pieces of a function are listed without the
						# object: merge them with the function, by name
						if (fn ~ /^0x/) fn = fn " (" obj ")"
						print ir "\t" fn }' >> "$d/$run.functions.$incl"
			done
		done
		local name=${prefix}_$s.tsv; [ $incl = yes ] && name=${prefix}_inclusive_$s.tsv
		# per MESSAGE: (busy - idle) / n; shares of the per-MESSAGE total
		awk -F'\t' -v n="$n" -v tot="$(awk -F'\t' -v s="$s" -v r="$rep" -v b="$busy" '$1==s && $2==r {ir[$3]=$6} END{print ir[b]-ir["idle"]}' "$tsv")" \
			'FNR==NR{idle[$2]+=$1; next} {relay[$2]+=$1} END{
			for (k in relay) { d=(relay[k]-idle[k])/n; if (d >= 50) printf "%.0f\t%.1f%%\t%s\n", d, 100*d*n/tot, k } }' \
			"$d/idle.functions.$incl" "$d/$busy.functions.$incl" | sort -t$'\t' -k1,1nr > "$OUT/$name"
	done
	{ echo "top functions of $s by self cost per MESSAGE (rep $rep, $busy run - idle run):"; head -25 "$OUT/${prefix}_$s.tsv"; } >> "$OUT/summary.txt"
}

test_profile() {
	command -v perf >/dev/null || { log "profile: no perf, skipped"; return 0; }
	setup_relay
	local s
	for s in $SERVERS; do uas_stop "$s"; done
	for s in $SERVERS; do
		local pids; pids=$(srv_pids "$s" | tr ' ' ',')
		perf record -F 1999 -g -o "$OUT/perf_$s.data" -p "$pids" -- sleep $((PROFILE_S + 1)) \
			> "$OUT/perf_$s.record.out" 2>&1 &
		BG_PIDS+=($!)
		sleep 0.5
		"$LOADGEN" --target "127.0.0.1:$(port_of "$s")" --rate "$PROFILE_RATE" --duration "$PROFILE_S" \
			--users "$N_USERS" --uac-port "$LG_PORT" --uas-port "$(uas_port_of "$s")" \
			--batch "$LG_BATCH" > "$OUT/profile_$s.loadgen.out" 2>&1
		wait "${BG_PIDS[-1]}" 2>/dev/null
		log "profile $s at $PROFILE_RATE msg/s: $(cat "$OUT/profile_$s.loadgen.out")"
		{
			echo "== $s, loadgen at $PROFILE_RATE msg/s for $PROFILE_S s: $(cat "$OUT/profile_$s.loadgen.out")"
			echo "== by DSO (kernel vs user space)"
			perf report -i "$OUT/perf_$s.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
			echo "== self (no children), by symbol"
			perf report -i "$OUT/perf_$s.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
		} > "$OUT/perf_$s.txt"
		rm -f "$OUT/perf_$s.data.old"
	done
	for s in $SERVERS; do stop_server "$s"; done
}

# ------------------------------------------------------------ summary
summary_md() {
	local f=$OUT/summary.md gen s
	{
		echo "# bench run $(basename "$OUT")"; echo
		cat "$OUT/env.txt"; echo
		for gen in $GENS; do
			[ -s "$OUT/relay_$gen.tsv" ] || continue
			echo "## relay, $gen: max sustained rate (<${FAIL_MAX_PCT}% failed, >=${MIN_ACHIEVED} of target; ${DURATION} s steps)"; echo
			echo "| server | rep 1 | rep 2 | rep 3 | median | srv CPU µs/msg | gen CPU µs/msg | srv CPU % | UAC CPU % | UAS CPU % |"
			echo "|---|---|---|---|---|---|---|---|---|---|"
			for s in $SERVERS; do
				awk -F'\t' -v g="$gen" -v s="$s" '
				FILENAME ~ /relay_best/ { if ($1==g && $2==s) b[$3]=$4; next }
				FNR>1 && $1==g && $2==s && $22=="PASS" && $4==b[$3] { su[$3]=$17; gu[$3]=$20; sc[$3]=$16; uc[$3]=$18; ac[$3]=$19 }
				END {
					n=0; for (r=1; r<=3; r++) if (r in b) { v[++n]=b[r] }
					for (i=2; i<=n; i++) for (j=i; j>1 && v[j-1]+0>v[j]+0; j--) { t=v[j]; v[j]=v[j-1]; v[j-1]=t }
					med = n ? (n%2 ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2) : "NA";
					# CPU figures: the step at the median rate (first rep that reached it)
					mr=""; for (r=1; r<=3; r++) if ((r in b) && b[r]==med && (r in su)) { mr=r; break }
					printf "| %s | %s | %s | %s | **%s** | %s | %s | %s | %s | %s |\n", s, b[1], b[2], b[3], med,
						mr ? su[mr] : "-", mr ? gu[mr] : "-", mr ? sc[mr] : "-", mr ? uc[mr] : "-", mr ? ac[mr] : "-" }' \
					"$OUT/relay_best.tsv" "$OUT/relay_$gen.tsv"
			done
			echo
			local meds; meds=$(for s in $SERVERS; do awk -F'\t' -v g="$gen" -v s="$s" '$1==g && $2==s {print $4}' "$OUT/relay_best.tsv" | tr '\n' ' ' | median; done | tr '\n' ' ')
			echo "ratio of the medians ($(echo $SERVERS | awk '{print $2 " / " $1}')): $(echo "$meds" | awk '{ if ($1 > 0) printf "%.2f", $2 / $1; else print "NA" }')"; echo
			echo "CPU per relayed MESSAGE by target rate (passing steps, mean over reps; µs of CPU time per successful MESSAGE):"; echo
			echo "| target msg/s | server | steps | server µs/msg | server CPU % | generator µs/msg | UAC CPU % | UAS CPU % | other procs CPU % |"
			echo "|---|---|---|---|---|---|---|---|---|"
			awk -F'\t' -v g="$gen" 'FNR>1 && $1==g && $3>0 && $22=="PASS" { k=$4"\t"$2; n[k]++; su[k]+=$17; sc[k]+=$16; gu[k]+=$20; uc[k]+=$18; ac[k]+=$19; oc[k]+=$21 }
				END { for (k in n) { split(k, a, "\t"); printf "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", a[1], a[2], n[k], su[k]/n[k], sc[k]/n[k], gu[k]/n[k], uc[k]/n[k], ac[k]/n[k], oc[k]/n[k] } }' \
				"$OUT/relay_$gen.tsv" | sort -t'|' -k2,2n -k3,3
			echo
		done
		if [ -s "$OUT/callgrind.tsv" ]; then
			echo "## callgrind: instructions per relayed MESSAGE"; echo
			echo '```'; grep '^callgrind' "$OUT/summary.txt"; echo '```'; echo
			echo '```'; cat "$OUT/callgrind.tsv"; echo '```'
		fi
		store_summary_md
		presence_summary_md
		echo; echo '```'; cat "$OUT/summary.txt"; echo '```'
	} > "$f"
}

# the store-and-forward tests (issue 3)
. "$HERE/store.sh"
# the presence tests (issue 5)
. "$HERE/presence.sh"

# ------------------------------------------------------------ main
[ $# -gt 0 ] || set -- all
build
make_users
case " $* " in *" store"*|*" drain "*|*" durability "*) store_build ;; esac
case " $* " in *" presence"*|*" publish-rate "*|*" fanout "*|*"-callgrind "*) pres_build ;; esac
{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(uname -sr), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "kamailio: $(kamailio -v 2>/dev/null | head -1)"
	echo "sipp: $(sipp -v 2>&1 | grep -o 'SIPp v[^ ,]*' | head -1)"
	echo "valgrind: $(valgrind --version 2>/dev/null)"
	echo "cpmd: $("$CPMD" --version 2>&1 | head -1), binary $CPMD_SRC built $(date -u -r "$CPMD_SRC" +%FT%TZ), ${CPMD_REV:-repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), uncommitted files under src/: $(git -C "$REPO" status --short -- src 2>/dev/null | wc -l)}"
	echo "cpmd options: -o auth.trusted=127.0.0.0/8 -o server.log_level=warn $CPMD_OPTS (+ data dir, listen, http.listen=)"
	echo "store params: STORE_GENS='$STORE_GENS' STORE=$STORE_START/+$STORE_STEP/+$STORE_FINE fail<=$STORE_FAIL_MAX_PCT% CPMD_STORE_OPTS='$CPMD_STORE_OPTS' DRAIN_M=$DRAIN_M DRAIN_FILL_RATE=$DRAIN_FILL_RATE MSILO_CHECK_TIME=$MSILO_CHECK_TIME PROBE=$PROBE_ORDER_N@$PROBE_ORDER_RATE,$PROBE_RATE*${PROBE_S}s CG_STORE=$CG_STORE_MSGS@$CG_STORE_RATE+warm$CG_STORE_WARM CG_STORE_REPEATS=$CG_STORE_REPEATS"
	echo "params: REPEATS=$REPEATS DURATION=$DURATION N_USERS=$N_USERS GENS='$GENS' SIPP=$SIPP_START/+$SIPP_STEP/+$SIPP_FINE LG=$LG_START/+$LG_STEP/+$LG_FINE LG_BATCH=$LG_BATCH KAM_CHILDREN=$KAM_CHILDREN KAM_MEM=$KAM_MEM CG_MSGS=$CG_MSGS CG_RATE=$CG_RATE CG_REG_RATE=$CG_REG_RATE"
} > "$OUT/env.txt"
touch "$OUT/summary.txt" "$OUT/relay_best.tsv"
log "results in $OUT"
for cmd in "$@"; do
	case $cmd in
	relay) test_relay ;;
	callgrind) test_callgrind ;;
	check) test_check ;;
	profile) test_profile ;;
	all) test_relay; test_callgrind ;;
	store) test_store_rate; test_drain; test_durability; test_store_callgrind ;;
	store-rate) test_store_rate ;;
	drain) test_drain ;;
	durability) test_durability ;;
	store-callgrind) test_store_callgrind ;;
	store-check) test_store_check ;;
	presence) test_publish_rate; test_fanout ;;
	publish-rate) test_publish_rate ;;
	fanout) test_fanout ;;
	presence-callgrind) test_presence_callgrind ;;
	publish-callgrind) test_publish_callgrind ;;
	notify-callgrind) test_notify_callgrind ;;
	presence-check) test_presence_check ;;
	msrp-relay) OUT=$OUT/msrp-relay CPMD=$CPMD "$HERE/msrp_relay.sh" || log "msrp_relay.sh failed" ;;
	msrp-callgrind) OUT=$OUT/msrp-callgrind CPMD=$CPMD MSRP_CALLGRIND=1 "$HERE/msrp_relay.sh" || log "msrp_relay.sh (callgrind) failed" ;;
	*) die "unknown command: $cmd (relay|callgrind|all|check|profile|store|store-rate|drain|durability|store-callgrind|store-check|presence|publish-rate|fanout|presence-callgrind|publish-callgrind|notify-callgrind|presence-check|msrp-relay|msrp-callgrind)" ;;
	esac
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg) ($(date -u +%FT%TZ))" >> "$OUT/env.txt"
summary_md
log "done: $OUT/summary.md"
