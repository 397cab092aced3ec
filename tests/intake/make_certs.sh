#!/bin/sh
# make_certs.sh DIR - a throw-away test CA, a server certificate it signs for
# 127.0.0.1/localhost, and an unrelated "wrong" CA (for the rejection test).
# Needs the openssl command-line tool (Debian package openssl).
set -eu
d=$1
mkdir -p "$d"
cd "$d"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=inprof test CA" \
  -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=inprof wrong CA" \
  -keyout wrong-ca.key -out wrong-ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -days 2 -extfile ext.cnf -out server.pem 2>/dev/null
test -s server.pem && test -s ca.pem && test -s wrong-ca.pem
