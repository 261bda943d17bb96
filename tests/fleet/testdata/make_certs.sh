#!/bin/sh
# A throwaway PKI for the fleet tests in $1: a CA, a server certificate for
# "localhost" / 127.0.0.1 (every service serves it) and a client certificate
# (clients and services calling each other present it).
set -eu
cd "$1"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ak fleet test ca" -keyout ca.key -out ca.pem
q openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext \
        -out server.pem
q openssl req -newkey rsa:2048 -nodes -subj "/CN=ak fleet test client" -keyout client.key -out client.csr
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem
chmod 600 ./*.key
