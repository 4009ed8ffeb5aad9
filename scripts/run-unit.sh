#!/bin/sh
# Runs each unit-test binary given; prints one summary line 'N passed, M failed' (binaries).
pass=0; fail=0
for t in "$@"; do
  if "$t"; then pass=$((pass+1)); else echo "FAILED: $t"; fail=$((fail+1)); fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
