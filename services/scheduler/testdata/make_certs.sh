#!/bin/sh
# A throwaway PKI for the scheduler's TLS tests in $1: a CA, a certificate
# for "localhost" / 127.0.0.1 (the scheduler and the executors serve it) and
# a client certificate (clients, executors and the scheduler present it).
set -eu
cd "$1"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ak scheduler test ca" -keyout ca.key -out ca.pem
q openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
        -out server.pem
q openssl req -newkey rsa:2048 -nodes -subj "/CN=ak scheduler test client" -keyout client.key -out client.csr
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem
