#!/bin/sh
# Makes a throwaway PKI for lib/rpc's TLS tests in $1: two CAs, a server
# certificate for "localhost" and a client certificate, both signed by ca1.
set -eu
d=$1
cd "$d"
q() { "$@" >/dev/null 2>&1; }
for ca in ca1 ca2; do
        q openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ak test $ca" \
                -keyout $ca.key -out $ca.pem
done
q openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
q openssl x509 -req -in server.csr -CA ca1.pem -CAkey ca1.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.pem
q openssl req -newkey rsa:2048 -nodes -subj "/CN=ak test client" -keyout client.key -out client.csr
q openssl x509 -req -in client.csr -CA ca1.pem -CAkey ca1.key -CAcreateserial -days 2 -out client.pem
