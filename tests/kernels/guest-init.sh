#!/bin/bash
# /init of the smoke VM that tests/kernels/matrix.sh boots: runs ebpf-jsonl's smoke checks on
# whatever kernel booted, writes `CHECK NAME PASS|FAIL DETAIL` lines and a final `DONE` to the
# second serial port (the host's results file), narrates on the console, then powers off.
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/busybox
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /usr/local/busybox
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /usr/local/busybox
[ -e /bin/true ] || /bin/busybox ln -s busybox /bin/true # the exec marker (no coreutils here)
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
for m in /modules/*.ko; do [ -e "$m" ] && insmod "$m"; done
ip link set lo up

# the second serial port: 8250 on x86, the second PL011 of qemu's arm `virt` machine on arm64
results=/dev/ttyS1
[ "$(uname -m)" = aarch64 ] && results=/dev/ttyAMA1
exec 9>"$results"
stty -F "$results" raw -echo 2>/dev/null
# report NAME PASS|FAIL DETAIL, with the seconds since the previous report (TCG: verifier runs
# of ~1M instructions take minutes).
last=$SECONDS
report() {
    local name=$1 verdict=$2 detail; shift 2
    detail=$(echo "$*" | tr '\n\t' '  ' | cut -c1-600)
    echo "CHECK $name $verdict [$((SECONDS - last)) s] $detail" >&9
    echo "=== CHECK $name $verdict [$((SECONDS - last)) s] $detail"
    last=$SECONDS
    results="$results $name=$verdict"
}
finish() { echo DONE >&9; sync; reboot -f; sleep 5; echo b >/proc/sysrq-trigger; }
trap finish EXIT
echo "KERNEL $(uname -r)" >&9
echo "=== kernel $(uname -r)"

# The checks to run: all, or those named in the kernel's command line (ebpf_jsonl.checks=A,B: the
# blocks exec, exits, limits, xdp, egress, check; matrix.sh passes its CHECK arguments).
CHECKS=$(sed -n -E 's/.*ebpf_jsonl[.]checks=([^ ]*).*/\1/p' /proc/cmdline | tr , ' ')
selected() { [ -z "$CHECKS" ] || [[ " $CHECKS " == *" $1 "* ]]; }
[ -z "$CHECKS" ] || echo "=== checks: $CHECKS"

T=/tmp
# Seconds each wait is bounded by. Under TCG a program the verifier refuses at its 1M-instruction
# limit takes minutes per attempt (tp_btf, then raw_tp; libbpf loads again for the log), so
# attaching gets ATTACH_WAIT: the tool must be let to fail with its own message.
WAIT=120
ATTACH_WAIT=540
# wait_for FILE PATTERN PID: until grep -q PATTERN FILE (0), PID died without it or WAIT passed (1).
wait_for() {
    local file=$1 pat=$2 pid=$3 end=$((SECONDS + ATTACH_WAIT))
    while [ $SECONDS -lt $end ]; do
        grep -q -- "$pat" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    grep -q -- "$pat" "$file" 2>/dev/null
}
# wait_jq FILE FILTER: until `jq -e -s FILTER` holds over the records in FILE, or WAIT passed.
wait_jq() {
    local file=$1 filter=$2 end=$((SECONDS + WAIT))
    while [ $SECONDS -lt $end ]; do
        jq -e -s "$filter" "$file" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}
stop() { kill -TERM "$1" 2>/dev/null; wait "$1"; }
# the tool's own error, plus (from -v's libbpf log) which program the verifier refused and its
# last words
first_err() {
    grep '^ebpf-jsonl: error' "$1" | head -n 1 | cut -c1-300
    grep -E "^libbpf: prog '[^']*': BPF program load failed" "$1" | head -n 1
    grep -E -B1 '^processed [0-9]+ insns' "$1" | head -n 2 | tr '\n' ' '
    grep -E -B2 -- '^-- END PROG LOAD LOG --' "$1" | head -n 1
}
dump() { local f; for f in "$@"; do echo "--- $f"; grep -v "^libbpf: " "$f" | head -c 20000; tail -n 40 "$f" | grep "^libbpf: "; done; }
# Stops the run in the background ($pid), sets rc to its exit status and dumps its
# $T/NAME.out and $T/NAME.err.
collect() { stop "$pid"; rc=$?; dump "$T/$1.out" "$T/$1.err"; }
all_json() { jq -e -s 'length >= 0' "$1" >/dev/null 2>&1; }

if selected exec; then
    # 2. exec: a marker exec with exact args and root's identity, a shell's child naming the shell's
    # exec (parent_exec_id); 3. an exec inside a fresh nested cgroup, its path.
    M=smoke-$RANDOM
    CG=/sys/fs/cgroup/$M/inner
    mkdir -p "$CG"
    cgid=$(stat -c %i "$CG")
    ebpf-jsonl exec -v >$T/exec.out 2>$T/exec.err &
    pid=$!
    if wait_for $T/exec.err ': attached' $pid; then
        /bin/true "$M-exec" "a b" ""
        bash -c 'echo $$ >"$1/cgroup.procs" && exec /bin/true "$2"' sh "$CG" "$M-cg"
        bash -c '/bin/true "$1"; exit 0' sh "$M-child"
        mkdir -p "/tmp/$M-dir" && (cd "/tmp/$M-dir" && exec /bin/true "$M-paths")
        want_exec='.type == "exec" and .filename == "/bin/true" and .comm == "true" and .ret == 0 and .error == null
                   and .args == ["/bin/true", "'$M-exec'", "a b", ""] and .args_truncated == false
                   and .euid == 0 and .egid == 0 and .secureexec == false and (.parent_comm | length) > 0'
        want_cg='.type == "exec" and .args == ["/bin/true", "'$M-cg'"]'
        # shellcheck disable=SC2016 # $all and $p are jq's variables, not the shell's
        want_tree='. as $all | any($all[]; .args == ["/bin/true", "'$M-child'"] and .parent_comm == "bash"
                   and (.parent_exec_id as $p | any($all[]; .comm == "bash" and .exec_id == $p)))'
        want_paths='.type == "exec" and .args == ["/bin/true", "'$M-paths'"]'
        wait_jq $T/exec.out "any(.[]; $want_exec) and any(.[]; $want_cg) and ($want_tree) and any(.[]; $want_paths)"
        collect exec
        json="exit $rc"; all_json $T/exec.out || json="stdout is not all JSON"
        if [ $rc = 0 ] && all_json $T/exec.out && [ "$(jq -s "[.[] | select($want_exec)] | length" $T/exec.out)" = 1 ] &&
            jq -e -s "$want_tree" $T/exec.out >/dev/null; then
            report exec PASS "$(grep -m1 ": attached" $T/exec.err)"
        else
            report exec FAIL "$json; want one exec of /bin/true $M-exec 'a b' '' as euid 0, and $M-child's parent_exec_id its bash's exec_id; got: $(jq -c -s "[.[] | select(.args[1]? == \"$M-exec\" or .args[1]? == \"$M-child\" or .comm == \"bash\") | {args, euid, secureexec, parent_comm, exec_id, parent_exec_id}]" $T/exec.out 2>/dev/null | cut -c1-400)"
        fi
        got=$(jq -c -s "[.[] | select($want_cg) | {cgroup, cgroup_id}]" $T/exec.out 2>/dev/null)
        if [ "$got" = "[{\"cgroup\":\"/$M/inner\",\"cgroup_id\":$cgid}]" ]; then
            report cgroup PASS "/$M/inner"
        else
            report cgroup FAIL "want [{cgroup: /$M/inner, cgroup_id: $cgid}], got $got"
        fi
        # cwd across the /tmp mount, exe through the /bin/true symlink
        got=$(jq -c -s "[.[] | select($want_paths) | {cwd, exe, fileless}]" $T/exec.out 2>/dev/null)
        want="[{\"cwd\":\"/tmp/$M-dir\",\"exe\":\"$(readlink -f /bin/true)\",\"fileless\":false}]"
        if [ "$got" = "$want" ]; then
            report paths PASS "cwd /tmp/$M-dir, exe $(readlink -f /bin/true)"
        else
            report paths FAIL "want $want, got $got"
        fi
    else
        collect exec
        report exec FAIL "did not attach (exit $rc): $(first_err $T/exec.err)"
        report cgroup FAIL "exec did not attach"
        report paths FAIL "exec did not attach"
    fi
fi

if selected exits; then
    # The tier `exec --failed` must choose: fexit, but on 5.10, whose BTF types __x64_sys_execveat's
    # `struct pt_regs *` as a forward declaration the verifier will not let fexit read: the syscall
    # tracepoints there (and stderr must say why).
    want_tier=fexit
    case $(uname -r) in 5.10.*) want_tier=tracepoint ;; esac
    # The argv reader of the failed-exec programs: bpf_loop's (5.17+), the unrolled loops before.
    want_reader=loop
    case $(uname -r) in 5.10.*) want_reader=unrolled ;; esac
    # 4. exec --exits --failed: the exit record of a marker (exit code 7, paired by exec_id) and a
    # failed exec (ENOENT) of a marker path.
    ebpf-jsonl exec -v --exits --failed >$T/ef.out 2>$T/ef.err &
    pid=$!
    if wait_for $T/ef.err ': attached' $pid; then
        /bin/bash -c 'exit 7' "$M-exit"
        (cd /tmp && /bin/busybox env "/nonexistent/$M-failed" x 2>/dev/null)
        want_ex='.type == "exec" and .args == ["/bin/bash", "-c", "exit 7", "'$M-exit'"]'
        want_fail='.type == "exec" and .ret == -2 and .error == "ENOENT" and .filename == "/nonexistent/'$M-failed'"
                   and .args == ["/nonexistent/'$M-failed'", "x"] and .cwd == "/tmp" and .exe == null'
        # shellcheck disable=SC2016 # $all, $ids and $e are jq's variables, not the shell's
        want_exit='. as $all | [$all[] | select('"$want_ex"') | .exec_id] as $ids
                   | any($all[]; .type == "exit" and (.exec_id as $e | $ids | index([$e]))
                                 and .exit_code == 7 and .signal == null and .euid == 0 and .egid == 0)'
        wait_jq $T/ef.out "($want_exit) and any(.[]; $want_fail)"
        collect ef
        json="exit $rc"; all_json $T/ef.out || json="stdout is not all JSON"
        if [ $rc = 0 ] && all_json $T/ef.out && jq -e -s "$want_exit" $T/ef.out >/dev/null; then
            report exits PASS "$(grep -m1 ": attached" $T/ef.err)"
        else
            report exits FAIL "$json; want an exit (code 7) paired with the exec of bash -c 'exit 7' $M-exit; got: $(jq -c -s "[.[] | select(.comm == \"bash\")]" $T/ef.out 2>/dev/null | cut -c1-240)"
        fi
        # --failed's tier: fexit on Debian's kernels (x86: __x64_sys_execve; arm64: __arm64_sys_execve)
        tier=$(grep -m1 ': attached' $T/ef.err | grep -E -o 'fexit/__[a-z0-9_]*sys_execve|tracepoint/syscalls|sys_enter' | head -n 1)
        if [ $rc = 0 ] && [ "$(jq -s "[.[] | select($want_fail)] | length" $T/ef.out 2>/dev/null)" = 1 ]; then
            case $tier in
            "$want_tier"*)
                failed_auto=PASS; failed_detail="ENOENT through $tier"
                if [ $want_tier = tracepoint ] && ! grep -q 'fexit.*forward declaration' $T/ef.err; then
                    failed_auto=FAIL; failed_detail="$failed_detail, but stderr does not say why not fexit"
                fi ;;
            *) failed_auto=FAIL; failed_detail="auto chose ${tier:-?}, not $want_tier: $(grep -m1 'unavailable' $T/ef.err | cut -c1-300)" ;;
            esac
        else
            failed_auto=FAIL
            failed_detail="$json; want one failed exec (ENOENT) of /nonexistent/$M-failed; got: $(jq -c -s "[.[] | select(.ret != 0)]" $T/ef.out 2>/dev/null | cut -c1-240)"
        fi
    else
        collect ef
        report exits FAIL "exec --exits --failed did not attach (exit $rc): $(first_err $T/ef.err)"
        failed_auto=FAIL; failed_detail="exec --exits --failed did not attach"
    fi
    # 4a. --failed-hook tracepoint and raw, forced: the same failed exec record as fexit's (but for
    # its time); the tracepoint tier mounts tracefs privately (the guest has none mounted) and
    # leaves /proc/mounts as it was.
    for h in tracepoint raw; do
        ebpf-jsonl exec -v --failed --failed-hook $h >$T/f$h.out 2>$T/f$h.err &
        pid=$!
        if ! wait_for $T/f$h.err ': attached' $pid; then
            collect f$h
            failed_auto=FAIL; failed_detail="$failed_detail; --failed-hook $h did not attach (exit $rc): $(first_err $T/f$h.err)"
            continue
        fi
        /bin/busybox env "/nonexistent/$M-failed-$h" x 2>/dev/null
        want_h='.type == "exec" and .ret == -2 and .error == "ENOENT" and .filename == "/nonexistent/'$M-failed-$h'"
                and .args == ["/nonexistent/'$M-failed-$h'", "x"]'
        wait_jq $T/f$h.out "any(.[]; $want_h)"
        collect f$h
        if [ $rc = 0 ] && [ "$(jq -s "[.[] | select($want_h)] | length" $T/f$h.out 2>/dev/null)" = 1 ] \
            && ! grep -q tracefs /proc/mounts; then
            failed_detail="$failed_detail; $h forced: same"
        else
            failed_auto=FAIL
            failed_detail="$failed_detail; --failed-hook $h: exit $rc, want one failed exec of /nonexistent/$M-failed-$h (and no tracefs in /proc/mounts: $(grep -c tracefs /proc/mounts)); got: $(jq -c -s "[.[] | select(.ret != 0)]" $T/f$h.out 2>/dev/null | cut -c1-200)"
        fi
    done
    # 4a'. Where there is no bpf_loop, forcing its reader is refused before load: one line, exit 4.
    if [ $want_reader = unrolled ]; then
        ebpf-jsonl exec --failed --argv-reader loop --duration 1s >$T/frd.out 2>$T/frd.err
        rc=$?
        if [ $rc = 4 ] && [ "$(wc -l <$T/frd.err)" = 1 ] && grep -q 'no bpf_loop' $T/frd.err && [ ! -s $T/frd.out ]; then
            failed_detail="$failed_detail; --argv-reader loop refused"
        else
            failed_auto=FAIL; failed_detail="$failed_detail; --argv-reader loop: exit $rc, want 4 and one line: $(head -c 300 $T/frd.err)"
        fi
    fi
    report failed $failed_auto "$failed_detail"
fi

if selected limits; then
    # 4b. The largest caps (--max-args 1024 --max-argv-bytes 64K) with --failed: the programs the
    # verifier finds hardest load, and a failed exec keeps the exact prefix of an argument the byte
    # cap cuts, with args_size measured past it (each element under 64 KiB, so it can be).
    big=$(printf 'y%.0s' $(seq 1 40000))
    ebpf-jsonl exec -v --failed --max-args 1024 --max-argv-bytes 64K >$T/lim.out 2>$T/lim.err &
    pid=$!
    if wait_for $T/lim.err ': attached' $pid; then
        /bin/busybox env "/nonexistent/$M-limits" "$big" "$big" 2>/dev/null
        want_lim='.type == "exec" and .ret == -2 and .filename == "/nonexistent/'$M-limits'"
                  and .args_truncated == true and (.args | length) == 3 and (.args[1] | length) == 40000
                  and (.args[2] | test("^y+$")) and (.args[2] | length) > 20000
                  and .args_size == '$(( ${#M} + 21 + 2 * 40001 ))
        wait_jq $T/lim.out "any(.[]; $want_lim)"
        collect lim
        if [ $rc = 0 ] && all_json $T/lim.out && [ "$(jq -s "[.[] | select($want_lim)] | length" $T/lim.out 2>/dev/null)" = 1 ]; then
            report limits PASS "64K argv cap with --failed: a cut argument keeps its prefix"
        else
            report limits FAIL "exit $rc; want one failed exec of /nonexistent/$M-limits whose second 40,000-byte argument the cap cuts; got: $(jq -c -s "[.[] | select(.ret != 0) | {filename, args_truncated, args_size, n: (.args | length)}]" $T/lim.out 2>/dev/null | cut -c1-240)"
        fi
    else
        collect lim
        report limits FAIL "did not attach (exit $rc): $(first_err $T/lim.err)"
    fi
fi

if selected xdp || selected egress; then
    # 5. xdp: a veth pair between two netns, IPv6 off and static neighbours so that nothing but the N
    # UDP datagrams sent crosses it; flows and totals must count exactly N.
    N=100
    ip netns add a && ip netns add b
    ip link add xa netns a address 02:eb:00:00:00:01 type veth peer name xb netns b address 02:eb:00:00:00:02
    for ns in a b; do
        ip netns exec $ns sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
    done
    ip -n a addr add 10.200.0.1/24 dev xa
    ip -n b addr add 10.200.0.2/24 dev xb
    ip -n a neigh add 10.200.0.2 lladdr 02:eb:00:00:00:02 dev xa nud permanent
    ip -n b neigh add 10.200.0.1 lladdr 02:eb:00:00:00:01 dev xb nud permanent
    ip -n a link set xa up && ip -n b link set xb up
fi

if selected xdp; then
    ip netns exec a ebpf-jsonl xdp -v xa --interval 1s >$T/xdp.out 2>$T/xdp.err &
    pid=$!
    if wait_for $T/xdp.err ': attached' $pid; then
        ip netns exec b bash -c 'for ((i = 0; i < '"$N"'; i++)); do echo -n x >/dev/udp/10.200.0.1/9000; done'
        wait_jq $T/xdp.out "[.[] | select(.type == \"xdp_stats\")] | last | .packets >= $N"
        collect xdp
        flows=$(jq -s '[.[] | select(.type == "flow" and .proto == "udp" and .dst_port == 9000 and .dst_ip == "10.200.0.1") | .packets] | add' $T/xdp.out 2>/dev/null)
        total=$(jq -s '[.[] | select(.type == "xdp_stats")] | last | .packets' $T/xdp.out 2>/dev/null)
        if [ $rc = 0 ] && all_json $T/xdp.out && [ "$flows" = "$N" ] && [ "$total" = "$N" ]; then
            report xdp PASS "$N of $N UDP packets in flows and xdp_stats ($(grep -m1 ": attached" $T/xdp.err | sed 's/.* in //'), $(grep -o -m1 '[a-z]* flavour' $T/xdp.err))"
        else
            report xdp FAIL "exit $rc; sent $N, flows counted ${flows:-?}, xdp_stats.packets ${total:-?}"
        fi
    else
        collect xdp
        report xdp FAIL "did not attach (exit $rc): $(first_err $T/xdp.err)"
    fi
fi

if selected egress; then
    # 5b. egress: on the same pair, `--direction both`: N UDP datagrams out of xa (egress) and M into
    # it (ingress), each counted exactly in its direction, in packets and bytes (a 1-byte payload: 43
    # bytes a frame), conserved per direction, every record with its direction. The egress hook auto
    # picks by the kernel: a clsact qdisc and filter before TCX (6.6), tcx from it; where that is
    # tcx, `--egress-hook clsact` is run too. After SIGTERM no filter and no clsact qdisc is left.
    want_hook=tcx
    case $(uname -r) in [1-5].* | 6.[0-5].*) want_hook=clsact ;; esac
    M=60
    # udp(DIR; DST PORT): [packets, bytes] of the UDP flows DIR to DST PORT (bash's /dev/udp: a new
    # source port, so a new flow, each datagram)
    udp='def udp(d; ip; p): [.[] | select(.type == "flow" and .direction == d and .proto == "udp"
                                         and .dst_ip == ip and .dst_port == p)]
                          | [(map(.packets) | add // 0), (map(.bytes) | add // 0)];'
    # shellcheck disable=SC2016 # $f and $s are jq's variables
    cons='def cons(d): ([.[] | select(.type == "flow" and .direction == d) | .packets] | add // 0) as $f
                       | ([.[] | select(.type == "xdp_stats" and .direction == d)] | last) as $s
                       | $f + $s.untracked_packets + $s.excluded_packets + $s.non_ip_packets
                            + $s.malformed_packets == $s.packets;'
    want_counts="udp(\"egress\"; \"10.200.0.2\"; 9001) == [$N, $((N * 43))]
                 and udp(\"ingress\"; \"10.200.0.1\"; 9002) == [$M, $((M * 43))]"
    shape='all(.[]; .direction == "ingress" or .direction == "egress")
           and ([.[] | select(.type == "xdp_stats") | .direction] | length > 0 and (. | unique) == ["egress", "ingress"])
           and all(.[] | select(.type == "xdp_stats"); .interval_ns > 0)'
    # egress_run ARG WANT: one run with --egress-hook ARG that must attach with WANT; sets e_verdict
    # (PASS or FAIL) and e_detail.
    egress_run() {
        local arg=$1 want=$2 out=$T/egress-$1.out err=$T/egress-$1.err hook left got
        ip netns exec a ebpf-jsonl xdp -v xa --direction both --egress-hook "$arg" --interval 1s >"$out" 2>"$err" &
        pid=$!
        # both attachments: the XDP program's line, then the egress one's
        if ! wait_for "$err" 'egress: attached' $pid || [ "$(grep -c ': attached' "$err")" != 2 ]; then
            collect "egress-$arg"
            e_verdict=FAIL
            e_detail="--egress-hook $arg did not attach both directions (exit $rc): $(first_err "$err") $(grep -v -m1 '^libbpf: ' "$err" | cut -c1-200) $(grep ': attached' "$err" | tr '\n' ' ')"
            return
        fi
        ip netns exec a bash -c 'for ((i = 0; i < '"$N"'; i++)); do echo -n x >/dev/udp/10.200.0.2/9001; done'
        ip netns exec b bash -c 'for ((i = 0; i < '"$M"'; i++)); do echo -n x >/dev/udp/10.200.0.1/9002; done'
        wait_jq "$out" "$udp $want_counts"
        collect "egress-$arg"
        # `with tcx`, `with clsact` or `with a clsact filter (pref P, handle 0xH)`
        hook=$(grep -m1 'egress: attached' "$err" | grep -E -o 'with (a )?(tcx|clsact)' | sed -E 's/with (a )?//')
        left="$(tc -n a filter show dev xa egress)$(tc -n a qdisc show dev xa | grep clsact)"
        got=$(jq -c -s "$udp [udp(\"egress\"; \"10.200.0.2\"; 9001), udp(\"ingress\"; \"10.200.0.1\"; 9002)]" "$out" 2>/dev/null)
        if [ $rc = 0 ] && all_json "$out" && jq -e -s "$udp $cons ($want_counts) and cons(\"ingress\") and cons(\"egress\") and $shape" "$out" >/dev/null \
            && [ "$hook" = "$want" ] && [ -z "$left" ]; then
            e_verdict=PASS
            e_detail="$N out, $M in, exact per direction, with $hook; nothing left after SIGTERM"
        else
            e_verdict=FAIL
            e_detail="--egress-hook $arg: exit $rc; hook ${hook:-?} (want $want); [egress, ingress] [packets, bytes]: ${got:-?} (want [[$N,$((N * 43))],[$M,$((M * 43))]]); left on xa: ${left:-nothing}; $(first_err "$err")"
        fi
    }
    egress_run auto $want_hook
    verdict=$e_verdict detail=$e_detail
    if [ $want_hook = tcx ]; then
        egress_run clsact clsact
        [ $e_verdict = PASS ] || verdict=FAIL
        detail="$detail; forced clsact: $e_detail"
    fi
    report egress "$verdict" "$detail"
fi

if selected check; then
    # 6. check, last: it must agree with what the subcommands just did here. exec.can_run is true
    # exactly when exec, exits, failed and limits passed, xdp.can_run when xdp passed; a false one
    # says which kernel version it needs (`fix`), and check exits 0 only if both can run.
    passed() { local c; for c; do case " $results " in *" $c=PASS "*) ;; *) return 1 ;; esac; done; }
    exec_ok=false; passed exec exits failed limits && exec_ok=true
    xdp_ok=false; passed xdp && xdp_ok=true
    ebpf-jsonl check >$T/check.json 2>$T/check.err
    rc=$?
    dump $T/check.json $T/check.err
    want_rc=1; [ $exec_ok = true ] && [ $xdp_ok = true ] && want_rc=0
    # shellcheck disable=SC2016 # $e, $x, $f, $w and $r are jq's variables
    agree='.exec.can_run == $e and .xdp.can_run == $x and .exec.failed_argv_reader == $r
           and all(.exec, .xdp; .can_run or (.fix | test("Linux [0-9]+[.][0-9]+")))
           and (($f | not) or (.exec.failed_hook == $w
                                and all(.failed_hooks | to_entries[] | select(.key != "fexit" or $w == "fexit"); .value.attaches)))'
    detail="exit $rc; exec.hook=$(jq -r .exec.hook $T/check.json 2>/dev/null) exec.failed_hook=$(jq -r .exec.failed_hook $T/check.json 2>/dev/null) exec.failed_argv_reader=$(jq -r .exec.failed_argv_reader $T/check.json 2>/dev/null) exec.can_run=$(jq -r .exec.can_run $T/check.json 2>/dev/null) (suites: $exec_ok) xdp.can_run=$(jq -r .xdp.can_run $T/check.json 2>/dev/null) (suite: $xdp_ok) xdp.fix=$(jq -r .xdp.fix $T/check.json 2>/dev/null) xdp.flavour=$(jq -r .programs.xdp.flavour $T/check.json 2>/dev/null)"
    failed_ok=false; passed failed && failed_ok=true
    if [ $rc = $want_rc ] && jq -e --argjson e $exec_ok --argjson x $xdp_ok --argjson f $failed_ok --arg w "$want_tier" --arg r "$want_reader" "$agree" $T/check.json >/dev/null 2>&1; then
        report check PASS "$detail"
    else
        report check FAIL "$detail $(first_err $T/check.err)"
    fi
fi
