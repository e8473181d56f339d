#!/usr/bin/env bash
# Runs the main job end to end on the bundled samples, in a scratch folder (target/demo):
# init, load the billing export, answer every archive of samples/inbox, then check the
# responses against the golden files in samples/expected and verify the journal.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/reestr"
demo="$PWD/target/demo"
rm -rf "$demo"
mkdir -p "$demo/keys"
install -m 600 samples/MUNIS.key "$demo/keys/MUNIS.key"
cat > "$demo/reestr.toml" <<'TOML'
receiver = "SUDBILLING"
settle_seconds = 0
[partners.MUNIS]
key_file = "keys/MUNIS.key"
TOML
cd "$demo"
"$bin" init
"$bin" invoices import "$OLDPWD/samples/invoices.csv"
cp "$OLDPWD"/samples/inbox/* inbox/
echo "== run"
"$bin" run
echo "== responses against samples/expected"
status=0
for f in "$OLDPWD"/samples/expected/*.zip; do
  n=$(basename "$f")
  if cmp -s "$f" "outbox/$n"; then echo "identical  $n"; else echo "DIFFERENT  $n"; status=1; fi
done
echo "== audit"
"$bin" audit verify
exit $status
