#!/bin/sh
# Refresh the KERN assets shipped in this folder from the npm package @kern-ux/native.
# Run by a developer when KERN publishes a new version (never at install time):
#   sh web/static/kern/refresh.sh [VERSION]     (default: the latest published version)
# It needs npm and a registry; it copies only what the pages use: kern.min.css, the Fira Sans
# font-face rules and the woff2 files they name, and the licence; VERSION records what was taken.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-$(npm view @kern-ux/native version)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@kern-ux/native@$version" >/dev/null && tar xzf kern-ux-native-*.tgz)
dist="$work/package/dist"
cp "$dist/kern.min.css" "$here/kern.min.css"
cp "$work/package/LICENSE.md" "$here/LICENSE.md"
cp "$dist/fonts/fira-sans.css" "$here/fonts/fira-sans.css"
rm -f "$here"/fonts/fira-sans/*.woff2
for font in $(grep -o 'fira-sans/[A-Za-z-]*\.woff2' "$dist/fonts/fira-sans.css" | sort -u); do
    cp "$dist/fonts/$font" "$here/fonts/$font"
done
printf '@kern-ux/native %s (EUPL-1.2), from %s\n' "$version" "$(npm view "@kern-ux/native@$version" dist.tarball)" \
    > "$here/VERSION"
echo "KERN assets refreshed to $version"
