#!/usr/bin/env bash
# Refreshes the vendored GraphiQL assets in graphiql/assets/ from the npm registry.
#
# Pinned versions (GraphiQL 4+ ships no UMD build, so we stay on 3.x):
#   graphiql                  3.8.3  graphiql.min.js, graphiql.min.css
#   react                     18.3.1 umd/react.production.min.js
#   react-dom                 18.3.1 umd/react-dom.production.min.js
#   @graphiql/plugin-explorer 3.2.6  dist/index.umd.js, dist/style.css
#   graphiql-explorer         0.9.0  LICENSE only (bundled inside the explorer UMD)
#
# Files are copied byte for byte. The script then checks that no copied CSS
# pulls anything from another origin: graphiql 3.8.3 embeds its Roboto and
# Fira Code fonts as data: URLs, so there is nothing to strip today, but if a
# future version brings back an `@import url(https://fonts.googleapis.com/...)`
# (or any other remote @import) it is removed here and the change is noted in
# VERSIONS, and any remaining remote url(...) makes this script fail.
# The bundled JS only contains http(s) URLs in comments, error messages and
# documentation links (no runtime fetches); `e2e/graphiql/check` verifies in a
# real browser that the page makes no request off the host.
#
# Usage: graphiql/refresh.sh        (needs node + npm and access to the npm registry)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/assets"

GRAPHIQL_VERSION=3.8.3
REACT_VERSION=18.3.1
EXPLORER_VERSION=3.2.6
GRAPHIQL_EXPLORER_VERSION=0.9.0

pkgs=(
  "graphiql@$GRAPHIQL_VERSION"
  "react@$REACT_VERSION"
  "react-dom@$REACT_VERSION"
  "@graphiql/plugin-explorer@$EXPLORER_VERSION"
  "graphiql-explorer@$GRAPHIQL_EXPLORER_VERSION"
)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# npm pack fetches the exact tarballs (verified against the registry's integrity
# hash by npm) without running any install scripts.
(cd "$tmp" && npm pack --json --silent "${pkgs[@]}" > pack.json)

unpack() { # tarball dir
  mkdir -p "$tmp/$2"
  tar -xzf "$tmp/$1" -C "$tmp/$2" --strip-components=1
}
unpack "graphiql-$GRAPHIQL_VERSION.tgz" graphiql
unpack "react-$REACT_VERSION.tgz" react
unpack "react-dom-$REACT_VERSION.tgz" react-dom
unpack "graphiql-plugin-explorer-$EXPLORER_VERSION.tgz" plugin-explorer
unpack "graphiql-explorer-$GRAPHIQL_EXPLORER_VERSION.tgz" graphiql-explorer

# Every package must be MIT licensed.
for d in graphiql react react-dom plugin-explorer graphiql-explorer; do
  lic="$(node -p "require('$tmp/$d/package.json').license")"
  if [ "$lic" != "MIT" ]; then
    echo "refresh.sh: $d has license '$lic', expected MIT" >&2
    exit 1
  fi
done

rm -rf "$out"
mkdir -p "$out"

# dest <- source (relative to $tmp)
copies=(
  "react.production.min.js|react/umd/react.production.min.js"
  "react-dom.production.min.js|react-dom/umd/react-dom.production.min.js"
  "graphiql.min.js|graphiql/graphiql.min.js"
  "graphiql.min.css|graphiql/graphiql.min.css"
  "plugin-explorer.umd.js|plugin-explorer/dist/index.umd.js"
  "plugin-explorer.css|plugin-explorer/dist/style.css"
  "LICENSE.react|react/LICENSE"
  "LICENSE.react-dom|react-dom/LICENSE"
  "LICENSE.graphiql|graphiql/LICENSE"
  "LICENSE.graphiql-explorer|graphiql-explorer/LICENSE"
)
for c in "${copies[@]}"; do
  cp "$tmp/${c#*|}" "$out/${c%%|*}"
done

# @graphiql/plugin-explorer's tarball ships no LICENSE file; its package.json
# says MIT and it lives in the same graphql/graphiql monorepo as graphiql,
# whose MIT license text is the one in the graphiql tarball.
if [ -e "$tmp/plugin-explorer/LICENSE" ]; then
  cp "$tmp/plugin-explorer/LICENSE" "$out/LICENSE.plugin-explorer"
else
  {
    echo "@graphiql/plugin-explorer@$EXPLORER_VERSION: package.json \"license\": \"MIT\"."
    echo "The npm tarball ships no LICENSE file. The package is developed in the"
    echo "graphql/graphiql monorepo (packages/graphiql-plugin-explorer), whose MIT"
    echo "license follows. Its UMD build bundles graphiql-explorer (MIT, see"
    echo "LICENSE.graphiql-explorer)."
    echo
    cat "$tmp/graphiql/LICENSE"
  } > "$out/LICENSE.plugin-explorer"
fi

# Neutralise remote @imports in CSS (e.g. Google Fonts); fail on any other remote url().
notes=()
for css in "$out"/*.css; do
  if grep -qiE '@import[^;]*https?:' "$css"; then
    sed -i -E 's#@import[^;]*[Hh][Tt][Tt][Pp][Ss]?:[^;]*;##g' "$css"
    notes+=("$(basename "$css"): removed remote @import rule(s) (fonts come from data: URLs or fall back to system fonts)")
  fi
  if grep -qiE 'url\(\s*["'"'"']?\s*(https?:)?//' "$css"; then
    echo "refresh.sh: $(basename "$css") still references a remote url(); refusing to vendor it" >&2
    grep -oiE 'url\(\s*["'"'"']?\s*(https?:)?//[^)]*\)' "$css" >&2
    exit 1
  fi
done

{
  echo "# Vendored GraphiQL assets, written by graphiql/refresh.sh. Do not edit by hand."
  echo "# package@version  npm-integrity"
  node -e '
    const p = require(process.argv[1]);
    for (const e of p) console.log(`${e.name}@${e.version}  ${e.integrity}`);
  ' "$tmp/pack.json"
  echo
  echo "# file  source  sha256  bytes"
  for c in "${copies[@]}"; do
    f="${c%%|*}"
    echo "$f  ${c#*|}  $(sha256sum "$out/$f" | cut -d' ' -f1)  $(stat -c %s "$out/$f")"
  done
  f=LICENSE.plugin-explorer
  echo "$f  (see file)  $(sha256sum "$out/$f" | cut -d' ' -f1)  $(stat -c %s "$out/$f")"
  echo
  if [ ${#notes[@]} -eq 0 ]; then
    echo "# Modifications: none (all files byte-identical to the npm tarballs)."
  else
    echo "# Modifications:"
    for n in "${notes[@]}"; do echo "#   $n"; done
  fi
  echo "# graphiql.min.js / graphiql.min.css end with a sourceMappingURL comment; the"
  echo "# .map files are not vendored (only browser devtools would request them, same origin)."
} > "$out/VERSIONS"

echo "graphiql assets refreshed in $out:"
cat "$out/VERSIONS"
