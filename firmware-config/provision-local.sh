#!/usr/bin/env bash
# Provisions a local KpuEdge installation the way a real one is provisioned, with kpu-provision end to end:
# an offline root and an issuing CA, the cloud's broker/ingest TLS certificates and log key (copied into the
# cloud's PKI directory), and TPS devices — each generating its own keys and CSRs, certified, registered, given a
# signed configuration bundle and installing it. Then run `./kpu cloud` and `./kpu edge submit --device-dir ...`.
#
#   firmware-config/provision-local.sh [OUT_DIR] [TPS_CODE...]
#
# OUT_DIR defaults to out/provisioned; the cloud's files go to cloud/KpuEdge.Cloud/data (its default paths).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/provisioned}; shift || true
tps=("$@"); [ ${#tps[@]} -gt 0 ] || tps=(3273011001003 3273011001004)
election=pemilu-2024
cloud_data=cloud/KpuEdge.Cloud/data

./kpu build >/dev/null
provision() { dotnet firmware-config/KpuEdge.Provisioning/bin/Release/net10.0/kpu-provision.dll "$@"; }

rm -rf "$out" && mkdir -p "$out" "$cloud_data/pki"
provision ca init-root --dir "$out/root-ca" --name "KPU Root CA (local)" --years 10
provision ca init-issuing --root "$out/root-ca" --dir "$out/issuing-ca" --name "KPU Issuing CA 1 (local)" --years 3
provision ca issue-service --ca "$out/issuing-ca" --name kpu-broker --purpose tls-server --alt localhost --alt 127.0.0.1 --election "$election" --out "$out/broker"
provision ca issue-service --ca "$out/issuing-ca" --name kpu-ingest --purpose tls-client --election "$election" --out "$out/ingest"
provision ca issue-signer --ca "$out/issuing-ca" --name kpu-log --role log --election "$election" --out "$out/log-signer"
provision ca issue-signer --ca "$out/issuing-ca" --name kpu-config --role config --election "$election" --out "$out/config-signer"

# The cloud's PKI directory (cloud/README.md, "PKI files").
pki=$cloud_data/pki
cp "$out/issuing-ca/root.crt" "$pki/root.crt"
cp "$out/issuing-ca/ca.crt" "$pki/issuing.crt"
cp "$out/broker/tls.crt" "$pki/broker.crt"; install -m 600 "$out/broker/tls.key" "$pki/broker.key"
cp "$out/ingest/tls.crt" "$pki/ingest.crt"; install -m 600 "$out/ingest/tls.key" "$pki/ingest.key"
install -m 600 "$out/log-signer/signing.key" "$pki/log.key"
rm -f "$cloud_data/devices.json" "$cloud_data/crl.der" "$cloud_data/ledger.db"*

log_key=$(cat "$out/log-signer/verifier-key.txt")
for code in "${tps[@]}"; do
  dev="$out/devices/dev-$code"
  provision device init --dir "$dev" --id "dev-$code"
  provision ca issue --ca "$out/issuing-ca" --device-dir "$dev" --role tps --assignment "$code" --election "$election" \
      --registry "$cloud_data/devices.json"
  provision config sign --signer "$out/config-signer" --device-dir "$dev" --broker mqtts://127.0.0.1:8883 \
      --election "$election" --log-key "$log_key" --api http://127.0.0.1:8080 --out "$dev/config.bundle.new"
  provision device install-config --dir "$dev" --bundle "$dev/config.bundle.new"
  rm "$dev/config.bundle.new"
done
echo
echo "Provisioned ${#tps[@]} device(s) under $out/devices; the cloud's PKI and registry are in $cloud_data."
echo "Next: ./kpu cloud   then   ./kpu edge sample-tally --tps ${tps[0]} > t.json && ./kpu edge submit --device-dir $out/devices/dev-${tps[0]} --tally t.json"
