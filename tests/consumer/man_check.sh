#!/bin/sh
# usage: man_check.sh PAGE SOURCE.md [TEXT ...]
# Checks a man page made by tools/md2man.py from SOURCE.md: a roff page with
# one section per "##" heading of the Markdown; rendered (groff, else man -l;
# with neither, only the structure is checked) without a warning, every
# --option the Markdown names is in the rendered text, so are the TEXTs, and
# no Markdown markup is left over.
set -eu
page=$1; md=$2; shift 2
fail() { echo "man_check: $page: $*" >&2; exit 1; }

[ -s "$page" ] || fail "missing or empty"
head -n 1 "$page" | grep -q "^'\\\\\" t" || fail "no tbl preprocessor line first"
grep -q '^\.TH "[A-Z0-9_.+-]*" "[0-9a-z]*"' "$page" || fail "no .TH line"
grep -q '^\.SH "NAME"' "$page" || fail "no NAME section"
sed -n '/^\.SH "NAME"/{n;p;}' "$page" | grep -q ' \\- ' || fail "NAME is not 'name \\- description'"
# one .SH per "##" heading (outside code blocks)
awk '/^```|^~~~/ { code = !code } !code && /^## / { sub(/^## +/, ""); sub(/ +#* *$/, ""); print toupper($0) }' "$md" |
  while IFS= read -r h; do
    grep -qF ".SH \"$h\"" "$page" || fail "no section for '## $h'"
  done
[ "$(grep -c '^\.TS' "$page")" = "$(grep -c '^\.TE' "$page")" ] || fail "unbalanced .TS/.TE"
[ "$(grep -c '^\.nf' "$page")" = "$(grep -c '^\.fi' "$page")" ] || fail "unbalanced .nf/.fi"
[ "$(grep -c '^\.RS' "$page")" = "$(grep -c '^\.RE' "$page")" ] || fail "unbalanced .RS/.RE"

renderer=""
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
if command -v groff >/dev/null 2>&1; then
  # -ww: every warning groff has; plain ASCII (no bold overstrikes or colours)
  groff -t -man -Tascii -ww -P-c -P-b -P-u -rLL=78n "$page" >"$out" 2>"$err" || fail "groff failed"
  [ -s "$err" ] && { cat "$err" >&2; fail "groff -ww warns"; }
  renderer=groff
fi
if command -v man >/dev/null 2>&1; then
  # what a reader gets: man -l, as man-db formats it
  LC_ALL=C MANWIDTH=78 man -l "$page" >"$out" 2>"$err" || fail "man -l failed"
  [ -s "$err" ] && { cat "$err" >&2; fail "man -l warns"; }
  renderer="man -l${renderer:+, groff -ww}"
fi
if [ -z "${renderer:-}" ]; then
  echo "man_check: neither man nor groff here: the structure checked only"
  exit 0
fi
sed -i 's/.\x08//g; s/\x1b\[[0-9;]*m//g' "$out"

# every --option the Markdown names (in code blocks too)
for opt in $(grep -o -- '--[a-z][a-z0-9-]*' "$md" | sort -u); do
  grep -qF -- "$opt" "$out" || fail "rendered page lacks $opt"
done
# a TEXT may wrap: found on one line, or in the text with lines joined
joined=$(tr '\n' ' ' <"$out" | tr -s ' ')
for text in "$@"; do
  grep -qF -- "$text" "$out" && continue
  case $joined in *"$(printf '%s' "$text" | tr -s ' ')"*) ;; *) fail "rendered page lacks '$text'" ;; esac
done
for markup in '**' '```' '<!--' '](' '|---'; do
  if grep -qF -- "$markup" "$out"; then
    grep -nF -- "$markup" "$out" >&2
    fail "Markdown left in the rendered page: $markup"
  fi
done
echo "man_check: $page: ok ($renderer, $(wc -l <"$out") lines)"
