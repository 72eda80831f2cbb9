# Execs per container: how many programs started in each container, the host's as "host".
# run: jq -n -c -f examples/jq/execs-per-container.jq examples/data/exec.jsonl
# Live: sudo ebpf-jsonl exec --duration 10m | jq -n -c -f examples/jq/execs-per-container.jq
# Counts `exec` records by container_id (null outside a container); most execs first.
reduce (inputs | select(.type == "exec")) as $e ({};
  .[$e.container_id // "host"] += 1)
| to_entries
| map({container: .key, execs: .value})
| sort_by([-.execs, .container])
| .[]
