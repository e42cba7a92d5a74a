#!/usr/bin/env bash
# bench/msrp_relay.sh — MSRP relay benchmark: cpmd vs Kamailio's msrp module, one
# session through the relay on 127.0.0.1.
#
#   TOPOLOGY=inbound bob AUTHs on the relay; alice, connected to it, sends to bob's
#                    path (To-Path: relay/bob-session bob): one relay hop, which
#                    Kamailio's config of ../shared/guide/ecosystem.md handles
#   TOPOLOGY=same    both AUTHed, alice's To-Path starts with her own relay URI
#                    (RFC 4976 §7.1; cpmd crosses both in place, Kamailio forwards
#                    to itself over TCP)
#   TOPOLOGY=direct  alice AUTHed, bob listens and the relay connects to him (cpmd
#                    only: that Kamailio config sends such a SEND back to alice)
#
# For each server in turn (REPEATS times, alternating), with the C client
# bench/msrpload.c (CLIENT=c, the default: a writer and two reader threads,
# pipelined 256 KB writes, bob counts end-lines and answers 200 when asked) or
# the light Python client of tests/integration/msrp_peer.py (CLIENT=py, blast;
# its wall figures are bounded by Python; TOPOLOGY=direct needs it):
#   - MSRP_MB megabytes in CHUNK_KB chunks: MB/s
#   - MESSAGES messages of 1 KB, one chunk each, pipelined: messages/s
# for each Failure-Report in FR ("no": no transaction responses; "yes": every chunk
# answered hop by hop, the relay tracks it).  Also the server's CPU time for each
# run (utime+stime of its processes, clock ticks): CPU ms per MB and per 1000
# messages, which depends less on the client than the wall figures do.
# MSRP_CALLGRIND=1 measures instructions per relayed 1 KB message instead (see
# msrp_callgrind).
#
# Needs: cc and libssl-dev (CLIENT=c) or python3, kamailio with its msrp module
# (else only cpmd runs), build/cpmd (release; built if missing).  Output:
# bench/out/msrp-<time>/results.tsv, client.tsv and summary.md; logs there too
# (bench/run.sh msrp-relay: OUT/msrp-relay).  Everything listens on 127.0.0.1;
# every process started here is killed on exit.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
: "${CPMD:=$REPO/build/cpmd}"
: "${SERVERS:=cpmd kamailio}"
: "${REPEATS:=3}"
: "${MSRP_MB:=256}"
: "${CHUNK_KB:=8}"               # Kamailio buffers a whole frame: from 16 KB on, its 16 KB TCP buffer overruns
: "${MESSAGES:=100000}"
: "${FR:=no yes}"
: "${TOPOLOGY:=inbound}"
: "${KAM_TCP_CHILDREN:=4}"
: "${OUT:=$HERE/out/msrp-$(date -u +%Y%m%d-%H%M%S)}"
: "${CLIENT:=c}"                 # c: bench/msrpload.c; py: msrp_peer.py blast (the first figures)
: "${MSRP_CALLGRIND:=}"          # 1: instructions per relayed message instead (see msrp_callgrind)
: "${CG_MSGS:=5000}"             # callgrind: 1 KB messages of the busy run
: "${CG_REPEATS:=3}"
MSRPLOAD=$OUT/msrpload
PEER=$REPO/tests/integration/msrp_peer.py
PY=/usr/bin/python3
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT"
LOG=$OUT/run.log
declare -A PID=() PORT=()
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }

cleanup() {
	local p
	for p in "${PID[@]}"; do
		kill -TERM "$p" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" $(ps -o pid= --ppid "$p" 2>/dev/null) 2>/dev/null
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ticks() { # utime+stime of a process and its children
	local t=0 p s
	for p in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
		s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		set -- $s
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
VG=()   # command prefix of the servers (valgrind in msrp_callgrind)
wait_port() { for _ in $(seq 1 300); do ss -H -ltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }

start_cpmd() {
	[ -x "$CPMD" ] || (cd "$REPO" && make -j2 >/dev/null) || { log "no $CPMD"; exit 1; }
	local d=$OUT/cpmd
	mkdir -p "$d/var"
	PORT[cpmd]=$(free_port)
	cat >"$d/cpmd.conf" <<CONF
[server]
domain = example.test
data_dir = $d/var
log_level = notice
[sip]
listen = udp:127.0.0.1:$(free_port),tcp:127.0.0.1:$(free_port)
[http]
listen = 127.0.0.1:$(free_port)
[msrp]
listen = 127.0.0.1:${PORT[cpmd]}
[store]
url = sqlite:$d/var/cpmd.db
CONF
	"$CPMD" -c "$d/cpmd.conf" user add alice@example.test --password alice-secret >>"$LOG" 2>&1
	"$CPMD" -c "$d/cpmd.conf" user add bob@example.test --password bob-secret >>"$LOG" 2>&1
	"${VG[@]}" "$CPMD" -c "$d/cpmd.conf" >"$d/cpmd.log" 2>&1 &
	PID[cpmd]=$!
	wait_port "${PORT[cpmd]}" || { log "cpmd did not start"; exit 1; }
	log "cpmd $(cd "$REPO" && git rev-parse --short HEAD) on ${PORT[cpmd]} (pid ${PID[cpmd]})"
}

start_kamailio() {
	local d=$OUT/kamailio m=/usr/lib/x86_64-linux-gnu/kamailio/modules/msrp.so
	if ! command -v kamailio >/dev/null || [ ! -f "$m" ]; then
		log "kamailio or its msrp module missing: skipped"
		return 1
	fi
	mkdir -p "$d"
	PORT[kamailio]=$(free_port)
	local p=${PORT[kamailio]}
	. "$REPO/tests/integration/kamailio_msrp.sh"
	kamailio_msrp_cfg "$p" "$KAM_TCP_CHILDREN" >"$d/msrp.cfg"
	"${VG[@]}" kamailio -f "$d/msrp.cfg" -P "$d/kamailio.pid" -Y "$d" -m 256 -M 16 -E -DD >"$d/kamailio.log" 2>&1 &
	PID[kamailio]=$!
	wait_port "$p" || { log "kamailio did not start"; return 1; }
	log "$(kamailio -v | head -1) on $p (pid ${PID[kamailio]}, tcp_children $KAM_TCP_CHILDREN)"
}

run() { # server what fr -> one line of results.tsv
	local srv=$1 what=$2 fr=$3 t0 t1 out args
	if [ "$CLIENT" = c ]; then
		run_c "$@"
		return
	fi
	if [ "$what" = mb ]; then args=(--mb "$MSRP_MB" --chunk-kb "$CHUNK_KB" --messages 0); else args=(--mb 0 --messages "$MESSAGES"); fi
	t0=$(ticks "${PID[$srv]}")
	out=$("$PY" "$PEER" --relay "127.0.0.1:${PORT[$srv]}" --timeout 300 blast \
		--alice alice:alice-secret --bob bob:bob-secret --topology "$TOPOLOGY" \
		--failure-report "$fr" "${args[@]}" 2>>"$LOG")
	t1=$(ticks "${PID[$srv]}")
	grep -q '^DONE' <<<"$out" || echo "$srv $what fr=$fr failed: $(grep -v '^ok' <<<"$out" | tail -n 3)" >>"$LOG"
	local ms=$(((t1 - t0) * 1000 / HZ)) v
	if [ "$what" = mb ]; then
		v=$(sed -n 's/^THROUGHPUT_MBPS=\([0-9.]*\).*/\1/p' <<<"$out")
		printf '%s\tMB/s\t%s\t%s\t%s\t%s\n' "$srv" "$fr" "${v:-FAIL}" "$ms" \
			"$(awk -v c="$ms" -v n="$MSRP_MB" 'BEGIN{printf "%.2f", c/n}')"
	else
		v=$(sed -n 's/^MSGS_PER_S=\([0-9]*\).*/\1/p' <<<"$out")
		printf '%s\tmsg/s\t%s\t%s\t%s\t%s\n' "$srv" "$fr" "${v:-FAIL}" "$ms" \
			"$(awk -v c="$ms" -v n="$MESSAGES" 'BEGIN{printf "%.2f", c*1000/n}')"
	fi
}

# the same with bench/msrpload.c: server CPU over the send only (msrpload
# reads /proc itself), the client's own CPU in client.tsv
run_c() {
	local srv=$1 what=$2 fr=$3 n size out
	if [ "$what" = mb ]; then n=$((MSRP_MB * 1024 / CHUNK_KB)) size=$((CHUNK_KB * 1024)); else n=$MESSAGES size=1024; fi
	local count received alice_got elapsed_s mb_per_s msgs_per_s client_cpu_ms srv_cpu_ms
	out=$("$MSRPLOAD" --relay "127.0.0.1:${PORT[$srv]}" --count "$n" --size "$size" --timeout 300 \
		--alice alice:alice-secret --bob bob:bob-secret --topology "$TOPOLOGY" \
		--failure-report "$fr" --pids "$(echo "${PID[$srv]}" $(ps -o pid= --ppid "${PID[$srv]}") | tr -s ' ' ',')" 2>>"$LOG")
	echo "$srv $what fr=$fr: $out" >>"$LOG"
	received=0
	eval "$out"
	local ok=1; [ "${received:-0}" -ge "$n" ] || { ok=0; echo "$srv $what fr=$fr failed: bob got ${received:-0} of $n" >>"$LOG"; }
	printf '%s\t%s\t%s\t%s\t%s\n' "$srv" "$what" "$fr" "${client_cpu_ms:-NA}" "${elapsed_s:-NA}" >>"$OUT/client.tsv"
	if [ "$what" = mb ]; then
		printf '%s\tMB/s\t%s\t%s\t%s\t%s\n' "$srv" "$fr" "$([ $ok = 1 ] && echo "$mb_per_s" || echo FAIL)" "${srv_cpu_ms:-NA}" \
			"$(awk -v c="${srv_cpu_ms:-0}" -v b=$((n * size)) 'BEGIN{printf "%.2f", c/(b/1048576)}')"
	else
		printf '%s\tmsg/s\t%s\t%s\t%s\t%s\n' "$srv" "$fr" "$([ $ok = 1 ] && echo "$msgs_per_s" || echo FAIL)" "${srv_cpu_ms:-NA}" \
			"$(awk -v c="${srv_cpu_ms:-0}" -v n="$n" 'BEGIN{printf "%.2f", c*1000/n}')"
	fi
}

# callgrind: each server alone under valgrind, an idle run (both AUTHs, no
# message) and a busy run (the same + CG_MSGS messages of 1 KB, Failure-Report
# no), CG_REPEATS times; instructions per relayed message = (Ir busy - Ir idle)
# / CG_MSGS, all processes (Kamailio: --trace-children, 1 TCP worker)
stop_one() {
	local p=${PID[$1]:-}
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" $(ps -o pid= --ppid "$p" 2>/dev/null) 2>/dev/null
	wait "$p" 2>/dev/null
	unset "PID[$1]"
}
msrp_callgrind() {
	local rep srv run dir ir n vals
	printf 'server\trep\trun\tmsgs\tIr_total\n' >"$OUT/callgrind.tsv"
	for rep in $(seq 1 "$CG_REPEATS"); do
		for srv in $SERVERS; do
			for run in idle busy; do
				dir=$OUT/callgrind/$srv/r$rep/$run
				mkdir -p "$dir"
				VG=(valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/callgrind.out.%p")
				if [ "$srv" = cpmd ]; then start_cpmd; else KAM_TCP_CHILDREN=1 start_kamailio || return 1; fi
				n=0; [ "$run" = busy ] && n=$CG_MSGS
				sleep 2
				"$MSRPLOAD" --relay "127.0.0.1:${PORT[$srv]}" --count "$n" --size 1024 --timeout 600 \
					--alice alice:alice-secret --bob bob:bob-secret --topology "$TOPOLOGY" \
					--failure-report no >"$dir/msrpload.out" 2>&1 || log "callgrind $srv $run: $(cat "$dir/msrpload.out")"
				sleep 2
				stop_one "$srv"
				VG=()
				ir=0
				for f in "$dir"/callgrind.out.*; do
					ir=$((ir + $(awk '/^summary:/{print $2; exit}' "$f")))
				done
				printf '%s\t%s\t%s\t%s\t%s\n' "$srv" "$rep" "$run" "$n" "$ir" >>"$OUT/callgrind.tsv"
				log "callgrind $srv rep $rep $run: $n messages, Ir $ir ($(cat "$dir/msrpload.out"))"
			done
		done
	done
	for srv in $SERVERS; do
		vals=$(awk -F'\t' -v s="$srv" 'NR>1 && $1==s {ir[$2" "$3]=$5; n[$2]=$4 > n[$2] ? $4 : n[$2]} END{
			for (r=1; (r" idle") in ir; r++) printf "%.0f ", (ir[r" busy"]-ir[r" idle"])/n[r]}' "$OUT/callgrind.tsv")
		echo "callgrind-msrp $srv: instructions per relayed 1 KB message (busy - idle, all processes) per rep: $vals-> median $(echo $vals | tr ' ' '\n' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" | tee -a "$OUT/summary.md"
	done
}

if [ "$CLIENT" = c ] && [ "$TOPOLOGY" = direct ]; then
	log "TOPOLOGY=direct: msrpload has no listening bob, using the Python client"
	CLIENT=py
fi
if [ "$CLIENT" = c ]; then
	cc -O2 -Wall -pthread -o "$MSRPLOAD" "$HERE/msrpload.c" -lcrypto || { log "cannot build msrpload"; exit 1; }
fi
if [ -n "$MSRP_CALLGRIND" ]; then
	msrp_callgrind
	exit
fi

servers=()
for s in $SERVERS; do
	if [ "$s" = cpmd ]; then start_cpmd && servers+=(cpmd); fi
	if [ "$s" = kamailio ]; then start_kamailio && servers+=(kamailio); fi
done
log "topology $TOPOLOGY, $MSRP_MB MB in $CHUNK_KB KB chunks, $MESSAGES x 1 KB, Failure-Report: $FR, $REPEATS reps; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'server\tmetric\tfailure_report\tvalue\tserver_cpu_ms\tcpu_ms_per_unit\n' >"$OUT/results.tsv"
for rep in $(seq 1 "$REPEATS"); do
	for fr in $FR; do
		for what in mb msg; do
			for srv in "${servers[@]}"; do
				line=$(run "$srv" "$what" "$fr")
				echo "$line" >>"$OUT/results.tsv"
				log "rep $rep: $line"
			done
		done
	done
done
# medians
{
	echo "# MSRP relay benchmark ($(date -u +%F), topology $TOPOLOGY)"
	echo
	echo "$MSRP_MB MB in $CHUNK_KB KB chunks; $MESSAGES x 1 KB messages; $REPEATS reps, medians."
	echo "CPU = the server's user+system time; per MB relayed, per 1000 messages."
	echo "A failed run (a chunk lost, or over 300 s) counts in no median."
	echo
	echo "| server | Failure-Report | MB/s | CPU ms/MB | msg/s | CPU ms/1000 msg |"
	echo "|---|---|---|---|---|---|"
	for srv in "${servers[@]}"; do
		for fr in $FR; do
			# the median of the runs that completed, and how many did not
			med() { awk -F'\t' -v s="$srv" -v m="$1" -v f="$fr" -v c="$2" \
				'$1==s&&$2==m&&$3==f&&$4!="FAIL"{print $c}' "$OUT/results.tsv" |
				sort -g | awk '{a[NR]=$1} END{if(!NR)print "NA"; else if(NR%2)print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
			nfail() { awk -F'\t' -v s="$srv" -v m="$1" -v f="$fr" \
				'$1==s&&$2==m&&$3==f&&$4=="FAIL"{n++} END{print n ? " (" n " failed)" : ""}' "$OUT/results.tsv"; }
			echo "| $srv | $fr | $(med MB/s 4)$(nfail MB/s) | $(med MB/s 6) | $(med msg/s 4)$(nfail msg/s) | $(med msg/s 6) |"
		done
	done
} >"$OUT/summary.md"
cat "$OUT/summary.md"
