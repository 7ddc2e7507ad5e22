#!/usr/bin/env bash
# Refresh the JavaScript that the site serves itself (no CDN): MathJax 3 and mermaid.
#
#   scripts/vendor_assets.sh                  # newest mathjax 3.x and mermaid 11.x
#   MATHJAX_VERSION=3.2.2 MERMAID_VERSION=11.17.2 scripts/vendor_assets.sh
#
# Needs npm (only the registry is used: `npm view` and `npm pack`, nothing is installed).
# Writes docs/assets/vendor/{mathjax,mermaid}/ and the version table in docs/assets/vendor/README.md.
# Stay on MathJax 3: MathJax 4 fetches its fonts from a CDN by default.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$repo/docs/assets/vendor"

newest() {  # newest published version of $1 matching the major version $2
    npm view "$1@$2" version --json 2>/dev/null \
        | tr -d '"[], ' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -n 1
}

mathjax_version="${MATHJAX_VERSION:-$(newest mathjax 3)}"
mermaid_version="${MERMAID_VERSION:-$(newest mermaid 11)}"
if [[ -z "$mathjax_version" || -z "$mermaid_version" ]]; then
    echo "error: could not resolve versions from the npm registry" >&2
    exit 1
fi
case "$mathjax_version" in 3.*) ;; *) echo "error: MathJax must stay on 3.x (got $mathjax_version)" >&2; exit 1 ;; esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # npm pack $1@$2 and unpack it into $work/$1
    (cd "$work" && npm pack --silent "$1@$2" >/dev/null)
    mkdir -p "$work/$1"
    tar -xzf "$work/$1-$2.tgz" -C "$work/$1"
}

echo "mathjax $mathjax_version, mermaid $mermaid_version"
fetch mathjax "$mathjax_version"
fetch mermaid "$mermaid_version"

rm -rf "$vendor/mathjax" "$vendor/mermaid"
mkdir -p "$vendor/mathjax" "$vendor/mermaid"
# tex-svg-full: TeX input with every extension bundled, SVG output (glyphs are paths, no web fonts),
# so one file renders every equation without loading anything else.
cp "$work/mathjax/package/es5/tex-svg-full.js" "$vendor/mathjax/"
cp "$work/mathjax/package/LICENSE" "$vendor/mathjax/LICENSE"
# The UMD build defines window.mermaid; Material then uses it instead of fetching one from a CDN.
cp "$work/mermaid/package/dist/mermaid.min.js" "$vendor/mermaid/"
cp "$work/mermaid/package/LICENSE" "$vendor/mermaid/LICENSE"

cat > "$vendor/README.md" <<README
# Vendored JavaScript

Served by the site itself so that every page works offline (no CDN). Do not edit these files by hand:
run \`scripts/vendor_assets.sh\` to refresh them from the npm registry.

| package | version | files | licence |
|---|---|---|---|
| [mathjax](https://www.npmjs.com/package/mathjax) | $mathjax_version | \`mathjax/tex-svg-full.js\` | Apache-2.0 (\`mathjax/LICENSE\`) |
| [mermaid](https://www.npmjs.com/package/mermaid) | $mermaid_version | \`mermaid/mermaid.min.js\` | MIT (\`mermaid/LICENSE\`) |

MathJax stays on 3.x: MathJax 4 loads its fonts from a CDN by default. \`tex-svg-full.js\` draws glyphs
as SVG paths, so no font file is requested. The MathJax configuration is \`docs/assets/javascripts/mathjax.js\`.
README

echo "done: $(du -sh "$vendor" | cut -f1) in $vendor"
