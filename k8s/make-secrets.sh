#!/bin/sh
# Makes everything the manifests' Secrets hold, in DIR (default ./ak-secrets):
#   a CA, one certificate per service (serverAuth + clientAuth: services
#   present them to each other), a client certificate for `ak`, the bearer
#   tokens, the receipt signing key, and DIR/secrets.yaml with the Secrets
#   ak-tls-{scheduler,executor,signer,auditor,gateway}, ak-tokens, ak-signer-key,
#   ak-gateway-api-keys (the gateway's HTTP API keys: one for tenant default) and
#   ak-registry-auth (an imagePullSecret-shaped kubernetes.io/dockerconfigjson:
#   executors' registry credentials, from the docker config.json that
#   $AK_REGISTRY_AUTH names, e.g. ~/.docker/config.json after `docker login`;
#   without it, no credentials: anonymous pulls only) and ak-auditor-webhook
#   (the bearer token ak-auditor sends to an http_webhook destination: the
#   file $AK_AUDIT_WEBHOOK_TOKEN names, else a generated one to give to the
#   webhook's receiver).
# Then: kubectl apply -f k8s/namespace.yaml -f DIR/secrets.yaml && kubectl apply -k k8s/
# Keep DIR private (it holds the CA key, the signing key and the tokens).
# Usage: k8s/make-secrets.sh [DIR] [NAMESPACE]
set -eu
dir=${1:-ak-secrets}
ns=${2:-ak}
umask 077
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "make-secrets: failed: $*" >&2; exit 1; }; }

[ -f ca.key ] || q openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=ak fleet CA" \
        -keyout ca.key -out ca.crt
cert() { # name SANs
        [ -f "$1.crt" ] && return 0
        q openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr"
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$2" >"$1.ext"
        q openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
                -extfile "$1.ext" -out "$1.crt"
        rm -f "$1.csr" "$1.ext"
}
svc_sans() { echo "DNS:ak-$1,DNS:ak-$1.$ns,DNS:ak-$1.$ns.svc,DNS:ak-$1.$ns.svc.cluster.local"; }
cert scheduler "$(svc_sans scheduler),DNS:localhost,IP:127.0.0.1"
cert signer "$(svc_sans signer)"
cert auditor "$(svc_sans auditor)"
cert gateway "$(svc_sans gateway)"
# The scheduler reaches executors at their pod IPs and expects this name.
cert executor "DNS:ak-executor"
cert client "DNS:ak-client"

token() { [ -f "$1" ] || openssl rand -hex 32 >"$1"; }
token client.token                  # for `ak` (AK_TOKEN)
token executor-to-scheduler.token   # executors registering and heartbeating
token executor.token                # the scheduler calling executors
token signer.token                  # executors calling the signer
token auditor.token                 # executors calling the auditor
token gateway.token                 # ak-gateway calling the scheduler (admin: acts for its keys' tenants)
token gateway-client.token          # an API key of ak-gateway (AGENTKERNEL_API_KEY), tenant default
# The auditor's webhook credential (--webhook-token-file): the receiver's
# token if given, else ours for the receiver to accept.
if [ -n "${AK_AUDIT_WEBHOOK_TOKEN:-}" ]; then
        cp "$AK_AUDIT_WEBHOOK_TOKEN" auditor-webhook.token
else
        token auditor-webhook.token
fi
# The scheduler's --token-file: clients only, each line "[tenant=NAME] [admin]
# TOKEN" (a bare token is tenant "default"). Executors' tokens go in its
# --registration-token-file (executor-to-scheduler): a client's token never
# registers an executor. Add tenants here, then kubectl apply and SIGHUP.
{ printf 'tenant=default admin '; cat client.token; printf 'tenant=default admin '; cat gateway.token; } >scheduler.tokens
# ak-gateway's --api-keys: "tenant=NAME KEY" lines. Add a line per tenant, then
# kubectl apply and SIGHUP the gateway (or restart it).
{ printf 'tenant=default '; cat gateway-client.token; } >gateway.api-keys
# Registry credentials: a docker config.json with an "auths" map (what
# `docker login` writes, unless a credsStore keeps them elsewhere).
if [ -n "${AK_REGISTRY_AUTH:-}" ]; then
        grep -q '"auths"' "$AK_REGISTRY_AUTH" || {
                echo "make-secrets: $AK_REGISTRY_AUTH has no \"auths\" map (credentials in a credsStore/credHelpers" \
                     "are not in the file: docker login with a plain config, or write {\"auths\":{...}})" >&2
                exit 1
        }
        cp "$AK_REGISTRY_AUTH" registry-auth.json
elif [ ! -f registry-auth.json ]; then
        printf '{"auths":{}}\n' >registry-auth.json
fi
[ -f key.pkcs8 ] || q openssl genpkey -algorithm ed25519 -outform DER -out key.pkcs8

b64() { base64 -w0 <"$1"; }
{
        for s in scheduler executor signer auditor gateway; do
                cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: ak-tls-$s
  namespace: $ns
type: kubernetes.io/tls
data:
  tls.crt: $(b64 "$s.crt")
  tls.key: $(b64 "$s.key")
  ca.crt: $(b64 ca.crt)
---
YAML
        done
        cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: ak-tokens
  namespace: $ns
type: Opaque
data:
  scheduler: $(b64 scheduler.tokens)
  executor: $(b64 executor.token)
  executor-to-scheduler: $(b64 executor-to-scheduler.token)
  signer: $(b64 signer.token)
  auditor: $(b64 auditor.token)
  gateway: $(b64 gateway.token)
---
apiVersion: v1
kind: Secret
metadata:
  name: ak-gateway-api-keys
  namespace: $ns
type: Opaque
data:
  api-keys: $(b64 gateway.api-keys)
---
apiVersion: v1
kind: Secret
metadata:
  name: ak-signer-key
  namespace: $ns
type: Opaque
data:
  key.pkcs8: $(b64 key.pkcs8)
---
apiVersion: v1
kind: Secret
metadata:
  name: ak-auditor-webhook
  namespace: $ns
type: Opaque
data:
  token: $(b64 auditor-webhook.token)
---
apiVersion: v1
kind: Secret
metadata:
  name: ak-registry-auth
  namespace: $ns
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: $(b64 registry-auth.json)
YAML
} >secrets.yaml
echo "make-secrets: wrote $(pwd)/secrets.yaml; ak's client certificate: client.crt/client.key, its token: client.token" >&2
