# Top talkers: packets and bytes per source address, summed over every interval, most bytes first.
# run: jq -n -c -f examples/jq/top-talkers.jq examples/data/counts.jsonl
# Live: sudo ebpf-jsonl xdp eth0 --duration 1m | jq -n -c -f examples/jq/top-talkers.jq
# `flow` records carry each interval's deltas, so summing them gives the totals;
# `xdp_stats` records (cumulative) and other types are skipped. One line per source.
reduce (inputs | select(.type == "flow")) as $f ({};
  .[$f.src_ip].packets += $f.packets
  | .[$f.src_ip].bytes += $f.bytes)
| to_entries
| map({src_ip: .key, packets: .value.packets, bytes: .value.bytes})
| sort_by([-.bytes, .src_ip])
| .[]
