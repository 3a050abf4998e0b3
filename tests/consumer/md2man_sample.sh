#!/bin/sh
# usage: md2man_sample.sh PYTHON3 SOURCE_DIR WORK_DIR
# tools/md2man.py on a sample of every Markdown construct it claims to handle
# (md2man_sample.md), then man_check.sh on the page with what must show.
set -eu
py=$1; src=$2; work=$3
mkdir -p "$work"
"$py" "$src/tools/md2man.py" -o "$work/md2man_sample.7" "$src/tests/consumer/md2man_sample.md"
exec "$src/tests/consumer/man_check.sh" "$work/md2man_sample.7" "$src/tests/consumer/md2man_sample.md" \
  "sample - every Markdown construct" \
  "nested item two with --nested-option" \
  "A second paragraph inside the third item." \
  "an indented code block inside the item" \
  "10. tenth step" \
  "A block quote over two lines." \
  "turns it on; a|b has a bar" \
  '.starts-with-a-dot --option "quoted" \backslash' \
  "  indented line" \
  "an escaped *star*" \
  "a 2 * 3 product" \
  "an absolute link https://example.org/x" \
  ".A line of the paragraph that starts with a dot 'and one"
