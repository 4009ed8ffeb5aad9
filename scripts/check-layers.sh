#!/bin/sh
# Enforces the layer rules of docs/ARCHITECTURE.md by grepping includes.
bad=0
check() { # dir, forbidden-include-regex, why
  hits=$(grep -rnE "#include \"($2)/" "src/$1" 2>/dev/null)
  if [ -n "$hits" ]; then echo "layer violation ($3):"; echo "$hits"; bad=1; fi
}
check util    "model|ingest|storage|promql|api" "util depends on nothing of ours"
check model   "ingest|storage|promql|api"       "model depends only on util"
check storage "ingest|promql|api"               "storage never sees ingest, promql or api"
check ingest  "promql|api"                      "ingest sees storage only through storage.h"
check promql  "ingest|api"                      "promql sees storage only through storage.h"
# ingest and promql may include only storage/storage.h from storage/
for d in ingest promql; do
  hits=$(grep -rnE '#include "storage/' "src/$d" 2>/dev/null | grep -v 'storage/storage.h')
  if [ -n "$hits" ]; then echo "layer violation ($d reaches inside storage):"; echo "$hits"; bad=1; fi
done
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
