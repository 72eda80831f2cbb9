# Exec/exit pairs: each program's argv next to how it ended and how long it ran, as it ends.
# run: jq -n -c -f examples/jq/exec-exit-pairs.jq examples/data/exec.jsonl
# Live: sudo ebpf-jsonl exec --exits | jq -n -c --unbuffered -f examples/jq/exec-exit-pairs.jq
# Streams: an exec is held (by exec_id) until its exit arrives, then one line is printed
# and the exec forgotten, so memory follows the processes running, not the stream's length.
# Exits of processes whose exec was not seen (started before the tool) are skipped.
foreach inputs as $r ({pending: {}, out: null};
  if $r.type == "exec" then
    .pending[$r.exec_id] = $r
    | .out = null
  elif $r.type == "exit" and .pending[$r.exec_id] != null then
    .pending[$r.exec_id] as $e
    | .out = {
        exec_id: $r.exec_id,
        container: ($e.container_id // "host"),
        comm: $e.comm,
        args: $e.args,
        exit_code: $r.exit_code,
        signal: $r.signal,
        duration_ns: $r.duration_ns
      }
    | del(.pending[$r.exec_id])
  else
    .out = null
  end;
  .out // empty)
