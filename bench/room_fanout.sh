#!/usr/bin/env bash
# bench/room_fanout.sh — chat room fan-out benchmark (issue 4): a predefined room
# of cpmd (`cpmd room add`, RFC 7701 MSRP switch) with PARTS participants, and for
# context the same copies made by the clients through Kamailio's msrp relay.
#
# usage: bench/room_fanout.sh [load|callgrind|all|check] (default: all)
#   load       REPEATS reps; per rep a fresh cpmd and a fresh Kamailio, alternating
#              which goes first, each scenario run by bench/roomload.c (one process,
#              epoll: PARTS SIP dialogs over UDP + PARTS MSRP TCP connections):
#                room1    1 sender, MESSAGES messages of SIZE bytes, a window of
#                         WINDOW unanswered SENDs; every other participant gets
#                         each message (PARTS-1 copies) and answers 200
#                room10   the same MESSAGES split over 10 senders
#                slow1    room1 with one participant that never reads (4 KB
#                slow10   receive buffer): cpmd must drop it, the others' rate holds
#                relay1   Kamailio: every participant AUTHs on its msrp relay, the
#                relay10  senders send each message to the PARTS-1 others themselves
#                         (PARTS-1 SENDs): the same copies, made by the clients
#              Measured from the first send to the last copy: messages delivered
#              (all copies) per second, copies per second, latency to the last copy
#              (median, p99), server CPU per copy (utime+stime from /proc, every
#              Kamailio process), cpmd's VmRSS / VmHWM, client CPU; lost or
#              duplicated copies (sequence numbers per sender) fail the run.
#   callgrind  cpmd alone under valgrind --tool=callgrind, REPEATS reps of an idle
#              run (PARTS join and leave) and a load run (the same + CG_MSGS messages
#              from 1 sender): instructions per copy = (Ir load - Ir idle) / copies;
#              callgrind_annotate of rep 1 (load).
#   check      one short room1 and relay1 run (smoke test, ~20 s).
#   all        load callgrind
#
# Needs (Debian 12): cc, python3 (free ports), valgrind (callgrind), kamailio with
# its msrp module (else the relay runs are skipped), build/cpmd (built if
# missing).  Knobs: the environment variables below.  Output:
# bench/out/fanout-<UTC time>/ (OUT=...): results.tsv (one line per run),
# callgrind.tsv, callgrind_top.txt, summary.md, env.txt, run.log, runs/*.txt (each
# roomload output), the servers' logs.  Network: 127.0.0.1 only; every process
# started here is stopped on exit.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
: "${CPMD:=$REPO/build/cpmd}"
: "${REPEATS:=3}"
: "${PARTS:=100}"
: "${MESSAGES:=5000}"            # per run, all senders together
: "${SIZE:=1024}"
: "${WINDOW:=16}"                # unanswered messages per sender
: "${SCENARIOS:=room1 room10 slow1 slow10 relay1 relay10}"
: "${KAM_TCP_CHILDREN:=4}"
: "${CG_MSGS:=300}"              # callgrind: messages of the load run (x PARTS-1 copies)
: "${RUN_TIMEOUT:=180}"
: "${OUT:=$HERE/out/fanout-$(date -u +%Y%m%d-%H%M%S)}"
PY=/usr/bin/python3
DOMAIN=example.test
ROOM=lobby@$DOMAIN
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd) # absolute: Kamailio changes its directory
LOG=$OUT/run.log
declare -A PID=() PORT=()
CG_PID=
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

stop_pid() { # pid: TERM, up to 30 s (valgrind writes its output), then KILL
	local p=$1
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
}
cleanup() {
	local s
	for s in "${!PID[@]}"; do stop_pid "${PID[$s]}"; done
	stop_pid "$CG_PID"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_log() { # file pattern seconds
	for _ in $(seq 1 $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
wait_port() { for _ in $(seq 1 100); do ss -H -ltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }

build() {
	[ -x "$CPMD" ] || (cd "$REPO" && make -j2 >/dev/null) || { log "no $CPMD"; exit 1; }
	cc -O2 -g -Wall -Wno-restrict -o "$OUT/roomload" "$HERE/roomload.c" || exit 1
}

# cpmd_prepare DIR: a config and a store with the room (history 0: a joining
# participant gets no earlier run's messages)
cpmd_prepare() {
	local d=$1
	rm -rf "$d"
	mkdir -p "$d/var"
	PORT[sip]=$(free_port)
	PORT[msrp]=$(free_port)
	cat >"$d/cpmd.conf" <<CONF
[server]
domain = $DOMAIN
data_dir = $d/var
log_level = notice
[sip]
listen = udp:127.0.0.1:${PORT[sip]}
[http]
listen =
[msrp]
listen = 127.0.0.1:${PORT[msrp]}
[auth]
trusted = 127.0.0.0/8
[chat]
max_participants = 10000
[store]
url = sqlite:$d/var/cpmd.db
CONF
	"$CPMD" -c "$d/cpmd.conf" user add "owner@$DOMAIN" --password owner-secret >>"$LOG" 2>&1 &&
		"$CPMD" -c "$d/cpmd.conf" room add "$ROOM" --owner "owner@$DOMAIN" --history 0 >>"$LOG" 2>&1 ||
		{ log "cpmd room add failed"; exit 1; }
}

start_cpmd() { # dir [wrapper...]
	local d=$1
	shift
	"$@" "$CPMD" -c "$d/cpmd.conf" >"$d/cpmd.log" 2>&1 &
	local p=$!
	wait_log "$d/cpmd.log" "focus: 1 room(s) loaded" 120 || { log "cpmd did not start: $(tail -n 3 "$d/cpmd.log")"; exit 1; }
	echo "$p"
}

start_kamailio() { # dir -> PID[kamailio], PORT[kam]; 1 if not installed
	local d=$1 m=/usr/lib/x86_64-linux-gnu/kamailio/modules/msrp.so
	if ! command -v kamailio >/dev/null || [ ! -f "$m" ]; then
		log "kamailio or its msrp module missing: relay runs skipped"
		return 1
	fi
	rm -rf "$d"
	mkdir -p "$d"
	PORT[kam]=$(free_port)
	. "$REPO/tests/integration/kamailio_msrp.sh"
	kamailio_msrp_cfg "${PORT[kam]}" "$KAM_TCP_CHILDREN" >"$d/msrp.cfg"
	kamailio -f "$d/msrp.cfg" -P "$d/kamailio.pid" -Y "$d" -m 256 -M 16 -E -DD >"$d/kamailio.log" 2>&1 &
	PID[kamailio]=$!
	wait_port "${PORT[kam]}" || { log "kamailio did not start"; return 1; }
	sleep 0.5
}

pids_of() { # pid -> it and its children, comma-separated
	echo "$1" $(ps -o pid= --ppid "$1" 2>/dev/null) | tr -s ' ' ','
}

# run_one NAME REP -> a line of results.tsv
COLS="msgs_per_s deliv_per_s lat_p50_ms lat_p99_ms server_us_per_deliv server_cpu_pct server_rss_kb server_hwm_kb client_cpu_pct missing dup errors slow_dropped slow_drop_ms slow_drop_after_msgs elapsed result"
run_one() {
	local name=$1 rep=$2 args=() f=$OUT/runs/$1-r$2.txt senders
	senders=${name//[!0-9]/}
	case $name in
	room*) args=(--sip "127.0.0.1:${PORT[sip]}" --room "$ROOM" --pid "$(pids_of "${PID[cpmd]}")") ;;
	slow*) args=(--sip "127.0.0.1:${PORT[sip]}" --room "$ROOM" --slow 1 --pid "$(pids_of "${PID[cpmd]}")") ;;
	relay*) args=(--relay "127.0.0.1:${PORT[kam]}" --pid "$(pids_of "${PID[kamailio]}")") ;;
	esac
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	"$OUT/roomload" "${args[@]}" --parts "$PARTS" --senders "$senders" --messages "$MESSAGES" \
		--size "$SIZE" --window "$WINDOW" --timeout "$RUN_TIMEOUT" >"$f" 2>&1
	local line="$name	$rep	$load" k v
	for k in $COLS; do
		v=$(tr ' ' '\n' <"$f" | sed -n "s/^$k=//p" | head -n 1)
		line+="	${v:-NA}"
	done
	echo "$line"
	grep -q '^result=ok' "$f" || log "$name rep $rep: $(grep -v '^$' "$f" | tail -n 2 | tr '\n' ' ')"
}

campaign_load() {
	printf 'scenario\trep\tload1\t%s\n' "$(echo $COLS | tr ' ' '\t')" >"$OUT/results.tsv"
	local rep s order d
	for rep in $(seq 1 "$REPEATS"); do
		local have_kam=0
		case " $SCENARIOS " in *" relay"*) start_kamailio "$OUT/kamailio-r$rep" && have_kam=1 ;; esac
		log "rep $rep:$([ $have_kam = 1 ] && echo " kamailio pids $(pids_of "${PID[kamailio]}") port ${PORT[kam]};") load $(cut -d' ' -f1-3 /proc/loadavg)"
		# alternate: odd reps cpmd first, even reps Kamailio first
		order=$SCENARIOS
		if [ $((rep % 2)) = 0 ]; then
			order="$(tr ' ' '\n' <<<"$SCENARIOS" | grep '^relay') $(tr ' ' '\n' <<<"$SCENARIOS" | grep -v '^relay')"
		fi
		for s in $order; do
			case $s in relay*) [ $have_kam = 1 ] || continue ;; esac
			# a fresh cpmd per scenario: its RSS is that scenario's alone
			case $s in relay*) ;; *)
				d=$OUT/cpmd-r$rep-$s
				cpmd_prepare "$d"
				PID[cpmd]=$(start_cpmd "$d")
				[ -n "${PID[cpmd]}" ] || exit 1
				;;
			esac
			line=$(run_one "$s" "$rep")
			echo "$line" >>"$OUT/results.tsv"
			log "rep $rep $(echo "$line" | cut -f1,4-9,12-17,20 | tr '\t' ' ')"
			case $s in relay*) sleep 1 ;; *)
				stop_pid "${PID[cpmd]}"
				unset 'PID[cpmd]'
				grep -h "dropped from" "$d/cpmd.log" | head -n 2 >>"$LOG"
				;;
			esac
		done
		if [ $have_kam = 1 ]; then stop_pid "${PID[kamailio]}"; unset 'PID[kamailio]'; fi
	done
}

cg_ir() { awk '/^summary:/{print $2; exit}' "$1"; }

campaign_callgrind() {
	command -v valgrind >/dev/null || { log "no valgrind: callgrind skipped"; return; }
	printf 'rep\trun\tmessages\tcopies\tIr\n' >"$OUT/callgrind.tsv"
	local rep run d n f copies
	for rep in $(seq 1 "$REPEATS"); do
		for run in idle load; do
			d=$OUT/cg-r$rep-$run
			cpmd_prepare "$d"
			n=$([ $run = load ] && echo "$CG_MSGS" || echo 0)
			CG_PID=$(start_cpmd "$d" valgrind --tool=callgrind --callgrind-out-file="$d/callgrind.out")
			f=$OUT/runs/cg-r$rep-$run.txt
			"$OUT/roomload" --sip "127.0.0.1:${PORT[sip]}" --room "$ROOM" --parts "$PARTS" \
				--senders 1 --messages "$n" --size "$SIZE" --window "$WINDOW" --timeout 600 \
				--pid "$CG_PID" >"$f" 2>&1 || log "callgrind rep $rep $run: $(tail -n 2 "$f" | tr '\n' ' ')"
			stop_pid "$CG_PID"
			CG_PID=
			copies=$(tr ' ' '\n' <"$f" | sed -n 's/^deliveries=//p')
			printf '%s\t%s\t%s\t%s\t%s\n' "$rep" "$run" "$n" "${copies:-NA}" "$(cg_ir "$d/callgrind.out")" >>"$OUT/callgrind.tsv"
			log "callgrind rep $rep $run: $(tail -n 1 "$OUT/callgrind.tsv" | tr '\t' ' ')"
		done
	done
	if command -v callgrind_annotate >/dev/null && [ -f "$OUT/cg-r1-load/callgrind.out" ]; then
		{
			echo "# rep 1, load run ($CG_MSGS messages x $((PARTS - 1)) copies): self Ir per function"
			callgrind_annotate --threshold=99 "$OUT/cg-r1-load/callgrind.out" 2>/dev/null | sed -n '1,60p'
			echo
			echo "# inclusive"
			callgrind_annotate --inclusive=yes --threshold=99 "$OUT/cg-r1-load/callgrind.out" 2>/dev/null | sed -n '1,70p'
		} >"$OUT/callgrind_top.txt"
	fi
}

median() { sort -g | awk '{a[NR]=$1} END{if(!NR)print "NA"; else if(NR%2)print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
col() { # scenario column-name -> values of the runs that passed
	local i
	i=$(head -n 1 "$OUT/results.tsv" | tr '\t' '\n' | grep -nx "$2" | cut -d: -f1)
	awk -F'\t' -v s="$1" -v c="$i" '$1==s && $NF=="ok" {print $c}' "$OUT/results.tsv"
}
med() { col "$1" "$2" | median; }

summary() {
	{
		echo "# Room fan-out ($(date -u +%F), $PARTS participants, $SIZE-byte messages, window $WINDOW)"
		echo
		if [ -f "$OUT/results.tsv" ]; then
			echo "Medians of the passing runs (of $REPEATS); copies = messages x $((PARTS - 1)) receivers."
			echo
			echo "| scenario | runs ok | messages/s | copies/s | latency p50 ms | p99 ms | server µs CPU per copy | server CPU % | cpmd RSS / peak MB | client CPU % | slow one dropped after (ms, messages) |"
			echo "|---|---|---|---|---|---|---|---|---|---|---|"
			local s n
			for s in $SCENARIOS; do
				n=$(col "$s" msgs_per_s | wc -l)
				[ "$(awk -F'\t' -v s="$s" '$1==s' "$OUT/results.tsv" | wc -l)" -gt 0 ] || continue
				printf '| %s | %s/%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$n" \
					"$(awk -F'\t' -v s="$s" '$1==s' "$OUT/results.tsv" | wc -l)" \
					"$(med "$s" msgs_per_s)" "$(med "$s" deliv_per_s)" "$(med "$s" lat_p50_ms)" \
					"$(med "$s" lat_p99_ms)" "$(med "$s" server_us_per_deliv)" "$(med "$s" server_cpu_pct)" \
					"$(case $s in relay*) echo "-" ;; *) awk -v a="$(med "$s" server_rss_kb)" -v b="$(med "$s" server_hwm_kb)" 'BEGIN{printf "%.1f / %.1f", a/1024, b/1024}' ;; esac)" \
					"$(med "$s" client_cpu_pct)" \
					"$(case $s in slow*) echo "$(med "$s" slow_drop_ms), $(med "$s" slow_drop_after_msgs)" ;; *) echo "-" ;; esac)"
			done
			echo
			local a b
			for s in 1 10; do
				a=$(med "room$s" server_us_per_deliv)
				b=$(med "relay$s" server_us_per_deliv)
				awk -v a="$a" -v b="$b" -v s="$s" 'BEGIN{if(a+0>0 && b+0>0) printf "Server CPU per copy, %s sender(s): Kamailio relay / cpmd room = %.2fx\n\n", s, b/a}'
				a=$(med "room$s" deliv_per_s)
				b=$(med "slow$s" deliv_per_s)
				awk -v a="$a" -v b="$b" -v s="$s" 'BEGIN{if(a+0>0 && b+0>0) printf "Copies/s with a slow participant / without, %s sender(s): %.2f\n\n", s, b/a}'
			done
		fi
		if [ -f "$OUT/callgrind.tsv" ]; then
			echo "callgrind (cpmd alone, $PARTS participants, $CG_MSGS messages from 1 sender):"
			echo
			echo "| rep | Ir idle | Ir load | copies | Ir per copy |"
			echo "|---|---|---|---|---|"
			local rep i l c
			for rep in $(seq 1 "$REPEATS"); do
				i=$(awk -F'\t' -v r="$rep" '$1==r && $2=="idle"{print $5}' "$OUT/callgrind.tsv")
				l=$(awk -F'\t' -v r="$rep" '$1==r && $2=="load"{print $5}' "$OUT/callgrind.tsv")
				c=$(awk -F'\t' -v r="$rep" '$1==r && $2=="load"{print $4}' "$OUT/callgrind.tsv")
				echo "| $rep | $i | $l | $c | $(awk -v i="$i" -v l="$l" -v c="$c" 'BEGIN{if(c+0>0)printf "%.0f", (l-i)/c; else print "NA"}') |"
			done | tee "$OUT/cg_rows.md"
			echo
			echo "Median Ir per copy: $(awk -F'|' '{print $6}' "$OUT/cg_rows.md" | tr -d ' ' | grep -v NA | median)"
		fi
	} >"$OUT/summary.md"
	cat "$OUT/summary.md"
}

env_txt() {
	{
		echo "date: $(date -u)"
		echo "cpmd: $CPMD ($(cd "$REPO" && git rev-parse --short HEAD) $(cd "$REPO" && git status --porcelain | wc -l) dirty files)"
		echo "kamailio: $(kamailio -v 2>/dev/null | head -n 1), tcp_children $KAM_TCP_CHILDREN"
		echo "valgrind: $(valgrind --version 2>/dev/null)"
		echo "cpus: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
		echo "kernel: $(uname -r)"
		echo "load at start: $(cat /proc/loadavg)"
		echo "PARTS=$PARTS MESSAGES=$MESSAGES SIZE=$SIZE WINDOW=$WINDOW REPEATS=$REPEATS CG_MSGS=$CG_MSGS SCENARIOS=$SCENARIOS"
	} >"$OUT/env.txt"
}

build
env_txt
what=${1:-all}
case $what in
load) campaign_load ;;
callgrind) campaign_callgrind ;;
all) campaign_load; campaign_callgrind ;;
check)
	REPEATS=1 MESSAGES=500 SCENARIOS="room1 relay1"
	campaign_load
	;;
*) echo "usage: $0 [load|callgrind|all|check]" >&2; exit 2 ;;
esac
log "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
summary
