#!/usr/bin/env bash
# Resident memory of one process by mapping, from a copy of its /proc/<pid>/smaps (the threaded
# FOTA demo writes one with AIOT_DEMO_SMAPS=FILE). Prints "rss_kb <object> <kind> <KB>" lines:
# object is the file's base name, or heap / stack / anon (thread stacks, malloc arenas); kind is
# text (r-x), ro (r--: headers, .rodata, RELRO after relocation), rw (.data, .bss, anon).
# Usage: scripts/rss-breakdown.sh SMAPS [PREFIX]
set -euo pipefail
awk -v P="${2:-}" '
  /^[0-9a-f]+-[0-9a-f]+ / {
    perm = $2; obj = (NF >= 6) ? $6 : "anon"
    sub(/.*\//, "", obj); gsub(/[\[\]]/, "", obj)
    kind = (perm ~ /x/) ? "text" : (perm ~ /w/) ? "rw" : "ro"
    next
  }
  /^Rss:/ { kb[obj " " kind] += $2; tot += $2 }
  END {
    for (k in kb) if (kb[k]) printf "%srss_kb %s %d\n", P, k, kb[k]
    printf "%srss_kb total - %d\n", P, tot
  }' "$1" | sort -k4 -n -r
