# Store-and-forward benchmark (issue 3), sourced by bench/run.sh: cpmd
# (S&F on, SQLite WAL, synchronous=FULL, group commit) against Kamailio +
# msilo (SQLite WAL, synchronous=FULL, one autocommit INSERT per message).
#
#   store-rate   per rep, per server (alternating), a fresh server and an
#                empty store, then a ladder of MESSAGEs to N_USERS offline
#                users (never registered; cpmd: existing users without a
#                binding).  A step passes with achieved >= MIN_ACHIEVED of
#                the target and failures (timeouts, 5xx, any non-202) <=
#                STORE_FAIL_MAX_PCT; two figures per ladder: the best step
#                with no failure at all (issue 3's "202/s with zero
#                errors") and the best passing step (<= 0.1 % failed, the
#                Kamailio baseline's criterion).  After each step the rows
#                added to the store are compared with the 202s (lost = 202s
#                without a row).
#   drain        per rep, per server: fresh server, DRAIN_M messages stored
#                for one user at DRAIN_FILL_RATE, then bench/drainrx.c
#                REGISTERs that user and answers every MESSAGE 200: time
#                from the REGISTER to the DRAIN_M-th distinct message, and
#                until the store holds none of them as undelivered
#                (cpmd: messages.state = 0; msilo: rows in silo); duplicates.
#   durability   each server under strace: at 20 msg/s, is every 202 sent
#                after an fdatasync/fsync?  At PROBE_RATE, fsyncs per
#                stored message.
#   store-callgrind  instructions per stored MESSAGE: (Ir of a run storing
#                CG_STORE_MSGS at CG_STORE_RATE - Ir of an idle run) /
#                MESSAGEs; both runs start with the same CG_STORE_WARM
#                stored messages.
#   store        all four;  store-check: a 1-minute smoke test of each.

: "${STORE_GENS:=loadgen}"          # loadgen and/or sipp (uac_store.xml)
: "${STORE_PREFIX:=offl}"           # offline users offl00001..offl<N_USERS>
: "${STORE_START:=1000}"            # ladder: start, coarse step, fine step, cap
: "${STORE_STEP:=2000}"
: "${STORE_FINE:=500}"
: "${STORE_MAX:=60000}"
: "${STORE_FAIL_MAX_PCT:=0.1}"      # the ladder goes on while <= 0.1 % fail (the
                                    # Kamailio baseline's criterion); the
                                    # zero-failure figure is the best step of
                                    # the ladder with no failure at all
# cpmd: no per-user count quota (msilo has none; the default 1000 would
# answer 486 once a user holds 1000 messages)
: "${CPMD_STORE_OPTS:=-o im.max_messages=0}"
: "${DRAIN_M:=10000}"
: "${DRAIN_FILL_RATE:=1000}"
: "${DRAIN_USER:=drain00001}"
: "${DRAIN_PORT:=5186}"
: "${DRAIN_TIMEOUT:=300}"           # s, REGISTER -> last message
: "${DRAIN_DONE_TIMEOUT:=60}"       # s, last message -> store agrees
: "${DRAIN_LINGER_MS:=2000}"        # keep answering (late duplicates)
: "${PROBE_ORDER_N:=100}"           # durability: messages at PROBE_ORDER_RATE
: "${PROBE_ORDER_RATE:=20}"
: "${PROBE_RATE:=1000}"             # durability: fsyncs per message at this rate
                                    # (Kamailio under strace collapses at 2000)
: "${PROBE_S:=10}"
: "${CG_STORE_MSGS:=500}"             # callgrind: stored MESSAGEs measured ...
: "${CG_STORE_RATE:=50}"             # ... at this rate (Kamailio under valgrind
                                     # falls behind at 100/s on a busy machine)
: "${CG_STORE_WARM:=50}"             # both runs first store this many (at
                                     # CG_STORE_RATE/2): valgrind's translations
: "${CG_STORE_REPEATS:=1}"
: "${STORE_USER_PASSWORD:=bench-secret}"

DRAINRX=$OUT/drainrx
CPMD_TEMPLATE=$OUT/cpmd-users.db

# ------------------------------------------------------------ setup

store_build() {
	cc -O2 -Wall -o "$DRAINRX" "$HERE/drainrx.c" || die "cannot build drainrx"
	{ echo SEQUENTIAL; for i in $(seq 1 "$N_USERS"); do printf '%s%05d;\n' "$STORE_PREFIX" "$i"; done; } \
		> "$OUT/offline_users.csv"
	[ -f "$CPMD_TEMPLATE" ] && return 0
	# cpmd's users: the first one (and the schema) with "cpmd user add",
	# the rest with the same HA1 formula in one transaction (1000 CLI runs
	# would take a minute: one fsync each); the first one checks the formula
	local py=/usr/bin/python3 first
	first=$(printf '%s%05d@127.0.0.1' "$STORE_PREFIX" 1)
	rm -f "$CPMD_TEMPLATE"*
	"$CPMD" -o store.url="sqlite:$CPMD_TEMPLATE" user add "$first" --password "$STORE_USER_PASSWORD" \
		>> "$LOG" 2>&1 || die "cpmd user add $first failed"
	"$py" - "$CPMD_TEMPLATE" "$STORE_PREFIX" "$N_USERS" "${DRAIN_USER%%[0-9]*}" "$STORE_USER_PASSWORD" <<'PY' || die "cannot create the users"
import hashlib, sqlite3, sys, time
db, prefix, n, drain, pw = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
dom = "127.0.0.1"
def row(u):
    a = f"{u}:{dom}:{pw}".encode()
    return (f"{u}@{dom}", dom, hashlib.md5(a).hexdigest(), hashlib.sha256(a).hexdigest(), int(time.time()))
c = sqlite3.connect(db)
got = c.execute("SELECT aor, realm, ha1_md5, ha1_sha256 FROM users").fetchall()
want = row(f"{prefix}00001")[:4]
if got != [want]:
    sys.exit(f"HA1 formula differs from cpmd's: {got} vs {want}")
c.executemany("INSERT INTO users (aor, realm, ha1_md5, ha1_sha256, created) VALUES (?,?,?,?,?)",
              [row(f"{prefix}{i:05d}") for i in range(2, n + 1)] + [row(f"{drain}00001")])
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
PY
	rm -f "$CPMD_TEMPLATE-wal" "$CPMD_TEMPLATE-shm"
	log "cpmd users: $(sqlite3 "$CPMD_TEMPLATE" 'select count(*) from users') in $CPMD_TEMPLATE"
}

# Messages the server holds (every state): the stored-row check.
store_rows() {
	case $1 in
	kamailio) sqlite3 "$KAM_RUN/msilo.sqlite" 'select count(*) from silo' 2>/dev/null || echo NA ;;
	cpmd) sqlite3 "$CPMD_RUN/var/cpmd.db" 'select count(*) from messages' 2>/dev/null || echo NA ;;
	esac
}

# Shell command printing how many of the drain user's messages the store
# still holds as undelivered.
drain_left_cmd() {
	case $1 in
	kamailio) echo "sqlite3 '$KAM_RUN/msilo.sqlite' \"select count(*) from silo where username='$DRAIN_USER'\"" ;;
	cpmd) echo "sqlite3 '$CPMD_RUN/var/cpmd.db' \"select count(*) from messages where recipient='$DRAIN_USER@127.0.0.1' and state=0\"" ;;
	esac
}

# Both servers with the store settings (fresh store at each start).
store_env() {
	CPMD_DB_TEMPLATE=$CPMD_TEMPLATE
	CPMD_EXTRA_OPTS=$CPMD_STORE_OPTS
}

# ------------------------------------------------------------ store rate

test_store_rate() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$UAC_PORT" "$LG_PORT"
	store_env
	local gen
	local STEP_KIND=store STEP_SCEN=$SCEN/uac_store.xml STEP_CSV=$OUT/offline_users.csv
	local STEP_LG_PREFIX=$STORE_PREFIX STEP_LG_EXPECT=202 STEP_LG_UAS=0 STEP_ROWS_FN=store_rows
	local FAIL_MAX_PCT=$STORE_FAIL_MAX_PCT
	for gen in $STORE_GENS; do
		echo -e "$STEP_HDR" > "$OUT/store_$gen.tsv"
		ladder_reps "$gen" 1 "$STORE_START" "$STORE_STEP" "$STORE_FINE" "$STORE_MAX"
		# the zero-failure figure of each ladder: its best passing step
		# without a single failure
		local srv rep best vals
		for srv in $SERVERS; do
			vals=
			for rep in $(seq 1 "$REPEATS"); do
				best=$(awk -F'\t' -v s="$srv" -v r="$rep" 'NR>1 && $2==s && $3==r && $22=="PASS" && $8==0 && $4>b {b=$4} END{print b+0}' "$OUT/store_$gen.tsv")
				echo -e "$gen\t$srv\t$rep\t$best" >> "$OUT/store_best_strict.tsv"
				vals="$vals $best"
			done
			echo "store-zero-failure[$gen] $srv: max rate with no failure per rep:$vals -> median $(echo "$vals" | median) msg/s" | tee -a "$OUT/summary.txt"
		done
		awk -F'\t' 'NR>1 && $25 ~ /^-?[0-9]+$/ { ok[$2]+=$7; rows[$2]+=$25; if ($7 > $25) lost[$2]+=$7-$25 }
			END { for (s in ok) printf "store[%s] %s: 202s %d, rows added %d, 202s without a row %d\n", g, s, ok[s], rows[s], lost[s] }' \
			g="$gen" "$OUT/store_$gen.tsv" | tee -a "$OUT/summary.txt"
	done
}

# ------------------------------------------------------------ drain

test_drain() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$LG_PORT" "$DRAIN_PORT"
	store_env
	local rep s
	echo -e "server\trep\tM\tfill_ok\tfill_failed\trows\treg_ms\tfirst_ms\tlast_ms\tstore_ms\tdistinct\tdup\tdup_diff_callid\tretrans\tother\tmsgs_per_s\tsrv_cpu_s\tsrv_us_per_msg\trx_cpu_s\tleft_after" > "$OUT/drain.tsv"
	for rep in $(seq 1 "$REPEATS"); do
		for s in $(rep_order "$rep"); do
			start_server "$s"
			local tag=drain.$s.r$rep
			# 1) fill: DRAIN_M messages for the one user, who is offline;
			#    what was refused (Kamailio: 503 after SQLITE_BUSY) is sent
			#    again as new messages (new bodies), 3 rounds at most
			local fill fok=0 ffail=0 sent=0 rows=0 round ok bad
			for round in 1 2 3; do
				fill=$("$LOADGEN" --target "127.0.0.1:$(port_of "$s")" --rate "$DRAIN_FILL_RATE" \
					--count $(( DRAIN_M - rows )) --first "$sent" --users 1 \
					--prefix "${DRAIN_USER%%[0-9]*}" --expect 202 --uac-port "$LG_PORT" \
					--uas-port 0 --batch "$LG_BATCH" 2>> "$OUT/$tag.fill.err")
				echo "$fill" >> "$OUT/$tag.fill.out"
				ok=$(echo "$fill" | grep -o ' success=[0-9]*' | cut -d= -f2)
				bad=$(echo "$fill" | grep -o ' failed=[0-9]*' | cut -d= -f2)
				fok=$((fok + ${ok:-0})); ffail=$((ffail + ${bad:-0}))
				sent=$((sent + DRAIN_M - rows))
				sleep 1
				rows=$(store_rows "$s")
				[[ $rows =~ ^[0-9]+$ ]] || break
				[ "$rows" -lt "$DRAIN_M" ] || break
			done
			log "drain $s rep $rep: filled $fok/$DRAIN_M (202; refused or lost $ffail, in $round round(s)), rows=$rows"
			local expect=$DRAIN_M
			[[ $rows =~ ^[0-9]+$ ]] && [ "$rows" -gt 0 ] && [ "$rows" -lt "$DRAIN_M" ] && expect=$rows
			# 2) the user comes back: REGISTER, answer everything, count
			local spids s0 s1 out
			spids=$(srv_pids "$s"); s0=$(ticks $spids)
			out=$(timeout $(( DRAIN_TIMEOUT + DRAIN_DONE_TIMEOUT + 30 )) "$DRAINRX" \
				--server "127.0.0.1:$(port_of "$s")" --user "$DRAIN_USER" --port "$DRAIN_PORT" \
				--expect "$expect" --timeout "$DRAIN_TIMEOUT" --done-cmd "$(drain_left_cmd "$s")" \
				--done-timeout "$DRAIN_DONE_TIMEOUT" --linger-ms "$DRAIN_LINGER_MS" 2> "$OUT/$tag.err")
			s1=$(ticks $spids)
			echo "$out" > "$OUT/$tag.out"
			local reg_status reg_ms first_ms last_ms store_ms distinct dup dup_diff_callid retrans other bad requests rate t0_epoch cpu_s
			eval "$out"
			local left; left=$(sh -c "$(drain_left_cmd "$s")")
			local line
			line=$(awk -v s="$s" -v rep="$rep" -v m="$DRAIN_M" -v fok="${fok:-0}" -v ff="${ffail:-0}" \
				-v rows="$rows" -v reg="${reg_ms:--1}" -v first="${first_ms:--1}" -v last="${last_ms:--1}" \
				-v st="${store_ms:--1}" -v d="${distinct:-0}" -v dup="${dup:-0}" -v dd="${dup_diff_callid:-0}" \
				-v re="${retrans:-0}" -v oth="${other:-0}" -v ds=$((s1 - s0)) -v hz="$HZ" \
				-v rx="${cpu_s:-0}" -v left="$left" 'BEGIN{
				printf "%s\t%d\t%d\t%d\t%d\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.2f\t%.1f\t%.2f\t%s",
					s, rep, m, fok, ff, rows, reg, first, last, st, d, dup, dd, re, oth,
					(last > 0 ? (d + dup) / (last / 1000) : 0), ds / hz, (d + dup > 0 ? 1e6 * ds / hz / (d + dup) : 0), rx, left }')
			echo -e "$line" >> "$OUT/drain.tsv"
			log "drain $s rep $rep: $(echo -e "$line" | awk -F'\t' '{printf "%d of %s rows delivered (%s distinct) in %.3f s (%s msg/s), store agrees at %.3f s, duplicates %s (other Call-ID %s), retransmissions %s, server CPU %s s (%s us/msg), left %s", $11 + $12, $6, $11, $9/1000, $16, $10/1000, $12, $13, $14, $17, $18, $20}')"
			stop_server "$s"
		done
	done
	local s
	for s in $SERVERS; do
		# complete drains: every stored row was delivered
		awk -F'\t' -v s="$s" 'NR>1 && $1==s && $11+$12==$6 {printf "%s ", $9/1000}' "$OUT/drain.tsv" > "$OUT/.d"
		awk -F'\t' -v s="$s" 'NR>1 && $1==s && $11+$12==$6 && $10>0 {printf "%s ", $10/1000}' "$OUT/drain.tsv" > "$OUT/.ds"
		echo "drain $s: M=$DRAIN_M, REGISTER -> last delivered message (s) per complete rep: $(cat "$OUT/.d")-> median $(median < "$OUT/.d"); store agrees (s): $(cat "$OUT/.ds")-> median $(median < "$OUT/.ds"); duplicates $(awk -F'\t' -v s="$s" 'NR>1 && $1==s {d+=$12; x+=$13} END{printf "%d (with another Call-ID: %d)", d, x}' "$OUT/drain.tsv")" | tee -a "$OUT/summary.txt"
		rm -f "$OUT/.d" "$OUT/.ds"
	done
}

# ------------------------------------------------------------ durability

# Start a server under strace; the traced server becomes SRV_PID[s] (so
# that stop_server signals it), strace itself is waited for afterwards.
STRACE_PID=
start_traced() { # server file syscalls
	local s=$1 f=$2 calls=$3
	SRV_WRAP="strace -f --seccomp-bpf -qq -tt -s 28 -e trace=$calls -e signal=none -o $f" start_server "$s"
	STRACE_PID=${SRV_PID[$s]}
	local child i
	for i in $(seq 1 50); do
		child=$(ps -o pid= --ppid "$STRACE_PID" | head -1 | tr -d ' ')
		[ -n "$child" ] && break
		sleep 0.1
	done
	[ -n "$child" ] || die "no process under strace"
	SRV_PID[$s]=$child
	BG_PIDS+=("$STRACE_PID")
}
stop_traced() {
	stop_server "$1"
	local i
	for i in $(seq 1 100); do kill -0 "$STRACE_PID" 2>/dev/null || break; sleep 0.1; done
	kill_tree "$STRACE_PID"
}

# In an strace -f file: how many 202s were sent, and how many of them
# after an fsync/fdatasync that completed since the previous 202.
order_check() {
	awk '
		/(fdatasync|fsync)\(/ && / = 0/ { synced = 1; nsync++ }
		/<\.\.\. (fdatasync|fsync) resumed>/ && / = 0/ { synced = 1; nsync++ }
		/(sendto|sendmsg|sendmmsg)\(/ && /SIP\/2\.0 202/ { n++; if (synced) ok++; synced = 0 }
		END { printf "sent_202=%d after_sync=%d syncs=%d\n", n, ok, nsync }' "$1"
}

test_durability() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$LG_PORT"
	store_env
	local s tsv=$OUT/durability.tsv
	echo -e "server\tprobe\trate\tsent\tok_202\tsyncs\tsyncs_per_202\t202_after_sync" > "$tsv"
	for s in $SERVERS; do
		# 1) ordering, one message at a time
		local f=$OUT/strace_order_$s.txt res
		start_traced "$s" "$f" fdatasync,fsync,sendto,sendmsg,sendmmsg
		res=$("$LOADGEN" --target "127.0.0.1:$(port_of "$s")" --rate "$PROBE_ORDER_RATE" \
			--count "$PROBE_ORDER_N" --users "$N_USERS" --prefix "$STORE_PREFIX" --expect 202 \
			--uac-port "$LG_PORT" --uas-port 0 2>/dev/null)
		stop_traced "$s"
		local success sent_202 after_sync syncs
		success=$(echo "$res" | grep -o ' success=[0-9]*' | cut -d= -f2)
		eval "$(order_check "$f")"
		echo -e "$s\torder\t$PROBE_ORDER_RATE\t$PROBE_ORDER_N\t${success:-0}\t$syncs\t$(awk -v a="$syncs" -v b="${success:-0}" 'BEGIN{printf "%.2f", b ? a / b : 0}')\t$after_sync/$sent_202" >> "$tsv"
		log "durability $s at $PROBE_ORDER_RATE/s: ${success:-0} answered 202, $after_sync of $sent_202 202s sent after an fsync completed, $syncs fsyncs"
		# 2) fsyncs per stored message under load
		f=$OUT/strace_rate_$s.txt
		start_traced "$s" "$f" fdatasync,fsync
		res=$("$LOADGEN" --target "127.0.0.1:$(port_of "$s")" --rate "$PROBE_RATE" --duration "$PROBE_S" \
			--users "$N_USERS" --prefix "$STORE_PREFIX" --expect 202 --uac-port "$LG_PORT" --uas-port 0 2>/dev/null)
		stop_traced "$s"
		success=$(echo "$res" | grep -o ' success=[0-9]*' | cut -d= -f2)
		syncs=$(grep -c -E '(fdatasync|fsync)\(.*= 0|(fdatasync|fsync) resumed>.*= 0' "$f")
		echo -e "$s\trate\t$PROBE_RATE\t$((PROBE_RATE * PROBE_S))\t${success:-0}\t$syncs\t$(awk -v a="$syncs" -v b="${success:-0}" 'BEGIN{printf "%.2f", b ? a / b : 0}')\t-" >> "$tsv"
		log "durability $s at $PROBE_RATE/s: ${success:-0} answered 202, $syncs fsyncs ($(tail -1 "$tsv" | cut -f7) per message); loadgen: $res"
	done
}

# ------------------------------------------------------------ callgrind

# the traffic of one store callgrind run (see cg_campaign in run.sh)
cg_store_run() {
	local s=$1 run=$2 rd=$3 sendtime=$(( (CG_STORE_MSGS + CG_STORE_RATE - 1) / CG_STORE_RATE ))
	sleep 2
	# the same warm-up in both runs: first use of every path (valgrind's
	# translations, SQLite pages)
	local res retrans failed
	res=$("$LOADGEN" --target "127.0.0.1:$(port_of "$s")" --rate $(( CG_STORE_RATE / 2 )) \
		--count "$CG_STORE_WARM" --users "$N_USERS" --prefix "$STORE_PREFIX" \
		--expect 202 --uac-port "$LG_PORT" --uas-port 0 2>/dev/null)
	echo "$res" > "$rd/warmup.out"
	local wre; wre=$(echo "$res" | grep -o ' retrans=[0-9]*' | cut -d= -f2)
	sleep 2
	if [ "$run" = idle ]; then
		sleep "$sendtime"
	else
		res=$("$LOADGEN" --target "127.0.0.1:$(port_of "$s")" --rate "$CG_STORE_RATE" \
			--count "$CG_STORE_MSGS" --users "$N_USERS" --prefix "$STORE_PREFIX" \
			--expect 202 --uac-port "$LG_PORT" --uas-port 0 2>/dev/null)
		echo "$res" > "$rd/loadgen.out"
		CG_N=$(echo "$res" | grep -o ' success=[0-9]*' | cut -d= -f2)
		retrans=$(echo "$res" | grep -o ' retrans=[0-9]*' | cut -d= -f2)
		failed=$(echo "$res" | grep -o ' failed=[0-9]*' | cut -d= -f2)
	fi
	sleep "$CG_SETTLE"
	retrans=$(( ${retrans:-0} + ${wre:-0} ))
	CG_NOISE="$retrans\t${failed:-0}"
	[ "$retrans" -eq 0 ] && [ "${failed:-0}" -eq 0 ] || CG_CLEAN=0
}

test_store_callgrind() {
	ports_free "$KAM_PORT" "$CPMD_PORT" "$LG_PORT"
	store_env
	local tsv=$OUT/store_callgrind.tsv s
	echo -e "server\trep\trun\tmsgs\tprocs\tIr_total\tretrans\tfailed" > "$tsv"
	cg_campaign "$tsv" "$OUT/callgrind-store" store "$CG_STORE_REPEATS" cg_store_run
	for s in $CG_SERVERS; do
		local vals; vals=$(cg_per_msg "$tsv" "$s" store)
		echo "callgrind-store $s: instructions per stored MESSAGE (store run - idle run, all processes/threads) per rep: $vals-> median $(echo "$vals" | median)" | tee -a "$OUT/summary.txt"
	done
	for s in $CG_SERVERS; do
		cg_top "$s" 1 "$tsv" "$OUT/callgrind-store" store callgrind_store_top
	done
}

# ------------------------------------------------------------ smoke test

test_store_check() {
	local REPEATS=1 DRAIN_M=1000 PROBE_ORDER_N=20 PROBE_S=2
	local STORE_START=500 STORE_STEP=1000 STORE_FINE=250 STORE_MAX=500
	test_store_rate
	test_drain
	test_durability
}

# ------------------------------------------------------------ summary

store_summary_md() {
	local gen s
	for gen in $STORE_GENS; do
		[ -s "$OUT/store_$gen.tsv" ] || continue
		echo "## store rate, $gen: max sustained rate of MESSAGEs to offline users (${DURATION} s steps, achieved >= ${MIN_ACHIEVED} of the target; zero-failure: no timeout, no 5xx, no other answer than 202; lenient: <= ${STORE_FAIL_MAX_PCT} % failed)"; echo
		echo "| server | zero-failure rep 1 | rep 2 | rep 3 | **median** | lenient rep 1 | rep 2 | rep 3 | **median** | achieved 202/s at the median (* lenient) | srv CPU % | srv µs/msg | gen µs/msg | other procs CPU % | p99 ms |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
		for s in $SERVERS; do
			awk -F'\t' -v g="$gen" -v s="$s" '
			function med(x, n,   i, j, t, v) { n=0; for (i=1; i<=3; i++) if (i in x) v[++n]=x[i]
				for (i=2; i<=n; i++) for (j=i; j>1 && v[j-1]+0>v[j]+0; j--) { t=v[j]; v[j]=v[j-1]; v[j-1]=t }
				return n ? (n%2 ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2) : "NA" }
			FILENAME ~ /store_best_strict/ { if ($1==g && $2==s) z[$3]=$4; next }
			FILENAME ~ /store_best/ { if ($1==g && $2==s) b[$3]=$4; next }
			FNR>1 && $1==g && $2==s && $22=="PASS" { k=$3" "$4; ach[k]=$5; sc[k]=$16; su[k]=$17; gu[k]=$20; oc[k]=$21; p99[k]=$15 }
			END {
				mz = med(z); mb = med(b)
				# CPU figures: the step of the first rep whose zero-failure
				# figure is the median (else the lenient one, marked *)
				k=""; mk=""; for (r=1; r<=3; r++) if ((r in z) && z[r]==mz && ((r" "mz) in su)) { k=r" "mz; break }
				if (k == "") for (r=1; r<=3; r++) if ((r in b) && b[r]==mb && ((r" "mb) in su)) { k=r" "mb; mk="*"; break }
				printf "| %s | %s | %s | %s | **%s** | %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s |\n", s, z[1], z[2], z[3], mz,
					b[1], b[2], b[3], mb, k != "" ? ach[k] mk : "-", k != "" ? sc[k] : "-", k != "" ? su[k] : "-",
					k != "" ? gu[k] : "-", k != "" ? oc[k] : "-", k != "" ? p99[k] : "-" }' \
				"$OUT/store_best_strict.tsv" "$OUT/store_best.tsv" "$OUT/store_$gen.tsv"
		done
		echo
		local f meds
		for f in store_best_strict store_best; do
			meds=$(for s in $SERVERS; do awk -F'\t' -v g="$gen" -v s="$s" '$1==g && $2==s {print $4}' "$OUT/$f.tsv" | tr '\n' ' ' | median; done | tr '\n' ' ')
			echo "ratio of the medians, $([ $f = store_best ] && echo lenient || echo zero-failure) ($(echo $SERVERS | awk '{print $2 " / " $1}')): $(echo "$meds" | awk '{ if ($1 > 0) printf "%.2f", $2 / $1; else print "NA (" $2 " / " $1 ")" }')"; echo
		done
		echo "CPU per stored MESSAGE by target rate (passing steps, mean over reps):"; echo
		echo "| target msg/s | server | steps | server µs/msg | server CPU % | generator µs/msg | other procs CPU % |"
		echo "|---|---|---|---|---|---|---|"
		awk -F'\t' -v g="$gen" 'FNR>1 && $1==g && $22=="PASS" { k=$4"\t"$2; n[k]++; su[k]+=$17; sc[k]+=$16; gu[k]+=$20; oc[k]+=$21 }
			END { for (k in n) { split(k, a, "\t"); printf "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f |\n", a[1], a[2], n[k], su[k]/n[k], sc[k]/n[k], gu[k]/n[k], oc[k]/n[k] } }' \
			"$OUT/store_$gen.tsv" | sort -t'|' -k2,2n -k3,3
		echo
		echo "202s and stored rows, all steps (a 202 without a row would be a lost message):"; echo
		echo '```'; grep "^store\[$gen\]" "$OUT/summary.txt"; echo '```'; echo
	done
	if [ -s "$OUT/drain.tsv" ]; then
		echo "## drain: $(awk -F'\t' 'NR==2{print $3}' "$OUT/drain.tsv") stored messages, one returning user (fill at $DRAIN_FILL_RATE msg/s; msilo check_time $MSILO_CHECK_TIME s)"; echo
		echo "| server | rep | REGISTER → last delivered (s) | msg/s | store agrees (s) | distinct | duplicates | dup. with another Call-ID | retransmissions | server CPU s | µs/msg |"
		echo "|---|---|---|---|---|---|---|---|---|---|---|"
		awk -F'\t' 'NR>1 { printf "| %s | %s | %.3f | %s | %.3f | %s | %s | %s | %s | %s | %s |\n", $1, $2, $9/1000, $16, $10/1000, $11, $12, $13, $14, $17, $18 }' "$OUT/drain.tsv"
		echo; echo '```'; grep '^drain' "$OUT/summary.txt"; echo '```'; echo
	fi
	if [ -s "$OUT/durability.tsv" ]; then
		echo "## durability probe (strace of fdatasync/fsync and of the 202 sends)"; echo
		echo "| server | probe | rate | sent | answered 202 | fsyncs | fsyncs per 202 | 202s sent after an fsync |"
		echo "|---|---|---|---|---|---|---|---|"
		awk -F'\t' 'NR>1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$OUT/durability.tsv"
		echo
	fi
	if [ -s "$OUT/store_callgrind.tsv" ]; then
		echo "## callgrind: instructions per stored MESSAGE"; echo
		echo '```'; grep '^callgrind-store' "$OUT/summary.txt"; echo; cat "$OUT/store_callgrind.tsv"; echo '```'; echo
	fi
}
