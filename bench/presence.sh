# bench/presence.sh — sourced by bench/run.sh: the presence benchmark of issue 5,
# cpmd against Kamailio's presence + presence_xml modules in one run.
#
#   presence            publish-rate then fan-out (wall clock, both servers)
#   publish-rate        max sustained PUBLISH rate: SIPp bench/scenarios/publish.xml,
#                       one call = initial PUBLISH (PIDF) + modify (SIP-If-Match,
#                       RPID busy + note) + removal (Expires: 0) for one of
#                       N_PRES presentities; both servers up for the whole test
#                       and warmed up, then PRES_REPEATS ladders per server,
#                       alternating; pass = <= FAIL_MAX_PCT % of the calls
#                       failed and >= MIN_ACHIEVED of the target rate
#   fanout              bench/presfan.c: one presentity, FAN_WATCHERS watchers
#                       subscribed (one UDP socket), FAN_CHANGES modifying
#                       PUBLISHes one after the other; time from the PUBLISH to
#                       the last watcher's NOTIFY, NOTIFYs/s, server CPU per
#                       NOTIFY; PRES_REPEATS runs per server, fresh servers
#   presence-callgrind  instructions per PUBLISH and per NOTIFY: each server alone
#                       under callgrind, idle run vs busy run (see below); also
#                       publish-callgrind and notify-callgrind alone
#   presence-check      a 1-minute smoke test of both
#
# Both servers hold publications and subscriptions in memory, authorise every
# watcher (Kamailio: presence_xml force_active=1; cpmd: default_policy=allow),
# send a NOTIFY on every change (cpmd: min_notify_interval=0; Kamailio has no
# such limit) and authenticate nobody (cpmd: auth.trusted=127.0.0.0/8).  cpmd
# only takes PUBLISH and SUBSCRIBE for users it knows, so its database holds
# pres00001..: the same HA1 formula as bench/store.sh.
# Kamailio runs bench/kamailio-presence.cfg (4 UDP workers, -x tlsf, as the
# relay test).

: "${N_PRES:=1000}"               # presentities of the PUBLISH test
: "${PRES_PREFIX:=pres}"
: "${PRES_REPEATS:=$REPEATS}"
: "${PUB_START:=1000}"            # ladder in calls/s (3 PUBLISHes each)
: "${PUB_STEP:=1000}"
: "${PUB_FINE:=250}"
: "${PUB_MAX:=20000}"
: "${PUB_WARMUP_RATE:=500}"
: "${PUB_WARMUP_S:=10}"
: "${FAN_WATCHERS:=1000}"
: "${FAN_CHANGES:=50}"
: "${FAN_SUB_RATE:=500}"          # SUBSCRIBEs/s while the watchers subscribe
: "${FAN_PORT:=5186}"             # presfan's UDP socket
: "${CG_PUB_CALLS:=300}"          # callgrind: publication lives (x3 PUBLISHes)
: "${CG_PUB_RATE:=30}"
: "${CG_FAN_WATCHERS:=1000}"
: "${CG_FAN_CHANGES:=5}"
: "${CG_FAN_SUB_RATE:=50}"
: "${CG_PRES_REPEATS:=3}"
: "${KAM_PRES_CFG:=$HERE/kamailio-presence.cfg}"
PRES_CPMD_OPTS="-o presence.default_policy=allow -o presence.min_notify_interval=0 -o presence.replace_same_source=no -o presence.max_watchers=100000"

PRESFAN=$OUT/presfan
PRES_TEMPLATE=$OUT/cpmd-pres-users.db

pres_build() {
	cc -O2 -Wall -o "$PRESFAN" "$HERE/presfan.c" || die "cannot build presfan"
	{ echo SEQUENTIAL; for i in $(seq 1 "$N_PRES"); do printf '%s%05d;\n' "$PRES_PREFIX" "$i"; done; } \
		> "$OUT/pres_users.csv"
	[ -f "$PRES_TEMPLATE" ] && return 0
	local first; first=$(printf '%s%05d@127.0.0.1' "$PRES_PREFIX" 1)
	"$CPMD" -o store.url="sqlite:$PRES_TEMPLATE" user add "$first" --password bench-secret \
		>> "$LOG" 2>&1 || die "cpmd user add $first failed"
	/usr/bin/python3 - "$PRES_TEMPLATE" "$PRES_PREFIX" "$N_PRES" <<'PY' || die "cannot create the presentities"
import hashlib, sqlite3, sys, time
db, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def row(u):
    a = f"{u}:127.0.0.1:bench-secret".encode()
    return (f"{u}@127.0.0.1", "127.0.0.1", hashlib.md5(a).hexdigest(), hashlib.sha256(a).hexdigest(), int(time.time()))
c = sqlite3.connect(db)
if c.execute("SELECT aor, realm, ha1_md5, ha1_sha256 FROM users").fetchall() != [row(f"{prefix}00001")[:4]]:
    sys.exit("HA1 formula differs from cpmd's")
c.executemany("INSERT INTO users (aor, realm, ha1_md5, ha1_sha256, created) VALUES (?,?,?,?,?)",
              [row(f"{prefix}{i:05d}") for i in range(2, n + 1)])
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
PY
	rm -f "$PRES_TEMPLATE-wal" "$PRES_TEMPLATE-shm"
}

# the server settings of this test (run.sh's start_server reads them)
pres_env() {
	KAM_CFG=$KAM_PRES_CFG
	KAM_SCHEMAS="standard presence"
	CPMD_DB_TEMPLATE=$PRES_TEMPLATE
	CPMD_EXTRA_OPTS=$PRES_CPMD_OPTS
	STEP_KIND=publish
	STEP_SCEN=$SCEN/publish.xml
	STEP_CSV=$OUT/pres_users.csv
	STEP_ROWS_FN=
}

test_publish_rate() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$UAC_PORT"
	pres_env
	echo -e "$STEP_HDR" > "$OUT/publish_sipp.tsv"
	: > "$OUT/publish_best.tsv"
	local REPEATS=$PRES_REPEATS s
	# both servers up for the whole test, as in the relay test (a call
	# leaves no state behind), each warmed up first: PUB_WARMUP_S at
	# PUB_WARMUP_RATE calls/s (rep 0, not counted), so that neither pays
	# for touching its memory in the first measured step
	for s in $SERVERS; do start_server "$s"; done
	for s in $SERVERS; do
		DURATION=$PUB_WARMUP_S step sipp "$s" 0 "$PUB_WARMUP_RATE" || log "warm-up on $s failed"
	done
	ladder_reps sipp "" "$PUB_START" "$PUB_STEP" "$PUB_FINE" "$PUB_MAX"
	for s in $SERVERS; do stop_server "$s"; done
	# the ladder counts calls: 3 PUBLISHes each
	local s
	for s in $SERVERS; do
		local v; v=$(awk -F'\t' -v s="$s" '$2==s {printf "%d ", 3 * $4}' "$OUT/publish_best.tsv")
		echo "publish $s: max sustained PUBLISH/s per rep: $v-> median $(echo "$v" | median)" | tee -a "$OUT/summary.txt"
	done
}

# fan-out figures: one line per run in fanout.tsv
test_fanout() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$FAN_PORT"
	pres_env
	local tsv=$OUT/fanout.tsv rep s line
	echo -e "server\trep\twatchers\tchanges\tcompleted\tlast_ms_median\tlast_ms_max\tfirst_ms_median\tnotifies\tnotifies_per_s\tsrv_us_per_notify\tpresfan_cpu_ms\tnotify_retrans\tload1" > "$tsv"
	for rep in $(seq 1 "$PRES_REPEATS"); do
		for s in $(rep_order "$rep"); do
			start_server "$s"
			local watchers changes completed subscribe_s fanout_last_ms_median fanout_last_ms_max
			local fanout_first_ms_median notifies elapsed_s notifies_per_s srv_cpu_ms srv_us_per_notify
			local own_cpu_ms notify_retrans notify_other
			line=$(timeout 300 "$PRESFAN" --target "127.0.0.1:$(port_of "$s")" --port "$FAN_PORT" \
				--watchers "$FAN_WATCHERS" --changes "$FAN_CHANGES" --sub-rate "$FAN_SUB_RATE" \
				--pids "$(srv_pids "$s" | tr ' ' ',')" 2> "$OUT/fanout.$s.r$rep.err")
			echo "$line" > "$OUT/fanout.$s.r$rep.out"
			completed=0
			eval "$line"
			echo -e "$s\t$rep\t${watchers:-NA}\t${changes:-NA}\t$completed\t${fanout_last_ms_median:-NA}\t${fanout_last_ms_max:-NA}\t${fanout_first_ms_median:-NA}\t${notifies:-NA}\t${notifies_per_s:-NA}\t${srv_us_per_notify:-NA}\t${own_cpu_ms:-NA}\t${notify_retrans:-NA}\t$(cut -d' ' -f1 /proc/loadavg)" >> "$tsv"
			log "fanout $s rep $rep: $line $(head -c 300 "$OUT/fanout.$s.r$rep.err")"
			stop_server "$s"
		done
	done
	for s in $SERVERS; do
		awk -F'\t' -v s="$s" 'NR>1 && $1==s && $5==$4 {a=a" "$6; b=b" "$10; c=c" "$11} END{print a "|" b "|" c}' "$tsv" | {
			IFS='|' read -r a b c
			echo "fanout $s ($FAN_WATCHERS watchers, $FAN_CHANGES changes per run): PUBLISH -> last NOTIFY ms per run:$a -> median $(echo "$a" | median); NOTIFY/s:$b -> median $(echo "$b" | median); server CPU µs per NOTIFY:$c -> median $(echo "$c" | median)" | tee -a "$OUT/summary.txt"
		}
	done
}

# callgrind: one publish run = CG_PUB_CALLS publication lives at CG_PUB_RATE
cg_pub_run() {
	local s=$1 run=$2 rd=$3 sendtime=$(( (CG_PUB_CALLS + CG_PUB_RATE - 1) / CG_PUB_RATE ))
	sleep 2
	if [ "$run" = idle ]; then
		sleep "$sendtime"
	else
		timeout $(( sendtime * 3 + 60 )) sipp "127.0.0.1:$(port_of "$s")" -sf "$SCEN/publish.xml" \
			-inf "$OUT/pres_users.csv" -t u1 -i 127.0.0.1 -p "$UAC_PORT" -r "$CG_PUB_RATE" \
			-m "$CG_PUB_CALLS" -l "$SIPP_LIMIT" -nostdin -default_behaviors all,-bye \
			-trace_stat -stf "$rd/uac_stat.csv" > "$rd/uac.out" 2>&1
		local elapsed sent success failed timeouts unexpected retrans rtt_ms rtt_p50_ms rtt_p99_ms
		eval "$(sipp_stat "$rd/uac_stat.csv")"
		CG_N=$(( 3 * success ))
		CG_NOISE="$retrans\t$failed"
		[ "$retrans" -eq 0 ] && [ "$failed" -eq 0 ] || CG_CLEAN=0
	fi
	sleep 3
}

# callgrind: one fan-out run = CG_FAN_WATCHERS subscribe (both runs), then
# CG_FAN_CHANGES changes (busy run only)
cg_fan_run() {
	local s=$1 run=$2 rd=$3 k=$CG_FAN_CHANGES line
	[ "$run" = idle ] && k=0
	sleep 2
	line=$(timeout 900 "$PRESFAN" --target "127.0.0.1:$(port_of "$s")" --port "$FAN_PORT" \
		--watchers "$CG_FAN_WATCHERS" --changes "$k" --sub-rate "$CG_FAN_SUB_RATE" \
		--timeout-ms 120000 2> "$rd/presfan.err")
	echo "$line" > "$rd/presfan.out"
	local watchers changes completed notifies notify_retrans notify_other
	eval "$line"
	CG_N=${notifies:-0}
	CG_NOISE="${notify_retrans:-NA}\t${completed:-NA}"
	[ "${notify_retrans:-1}" -eq 0 ] && [ "${completed:-0}" -eq "$k" ] || CG_CLEAN=0
	sleep 3
}

test_presence_callgrind() {
	test_publish_callgrind
	test_notify_callgrind
}

test_publish_callgrind() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$UAC_PORT"
	pres_env
	local s vals
	local tsv=$OUT/callgrind_publish.tsv
	echo -e "server\trep\trun\tmsgs\tprocs\tIr_total\tretrans\tfailed" > "$tsv"
	cg_campaign "$tsv" "$OUT/callgrind-publish" publish "$CG_PRES_REPEATS" cg_pub_run
	for s in $CG_SERVERS; do
		vals=$(cg_per_msg "$tsv" "$s" publish)
		echo "callgrind-publish $s: instructions per PUBLISH (publish run - idle run, all processes) per rep: $vals-> median $(echo "$vals" | median)" | tee -a "$OUT/summary.txt"
	done
	for s in $CG_SERVERS; do cg_top "$s" 1 "$tsv" "$OUT/callgrind-publish" publish callgrind_publish_top; done
}

test_notify_callgrind() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$FAN_PORT"
	pres_env
	local s vals
	local tsv=$OUT/callgrind_notify.tsv
	echo -e "server\trep\trun\tmsgs\tprocs\tIr_total\tnotify_retrans\tchanges_completed" > "$tsv"
	cg_campaign "$tsv" "$OUT/callgrind-notify" notify "$CG_PRES_REPEATS" cg_fan_run
	for s in $CG_SERVERS; do
		vals=$(cg_per_msg "$tsv" "$s" notify)
		echo "callgrind-notify $s: instructions per NOTIFY (changes run - subscribed-only run, all processes; includes 1/$CG_FAN_WATCHERS of the PUBLISH) per rep: $vals-> median $(echo "$vals" | median)" | tee -a "$OUT/summary.txt"
	done
	for s in $CG_SERVERS; do cg_top "$s" 1 "$tsv" "$OUT/callgrind-notify" notify callgrind_notify_top; done
}

test_presence_check() {
	local PRES_REPEATS=1 PUB_START=500 PUB_STEP=1000 PUB_MAX=500 FAN_CHANGES=3 DURATION=5 PUB_WARMUP_S=2
	test_publish_rate
	test_fanout
}

presence_summary_md() {
	[ -s "$OUT/publish_sipp.tsv" ] || [ -s "$OUT/fanout.tsv" ] || [ -s "$OUT/callgrind_publish.tsv" ] || return 0
	echo "## presence (issue 5)"; echo
	echo '```'; grep -E '^(publish|fanout|callgrind-publish|callgrind-notify) ' "$OUT/summary.txt"; echo '```'; echo
	[ -s "$OUT/fanout.tsv" ] && { echo '```'; cat "$OUT/fanout.tsv"; echo '```'; echo; }
	[ -s "$OUT/publish_best.tsv" ] && { echo "best passing step per ladder (calls/s; x3 = PUBLISH/s):"; echo '```'; cat "$OUT/publish_best.tsv"; echo '```'; }
	return 0
}
