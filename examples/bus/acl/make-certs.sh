#!/bin/sh
# Makes the certificates for the broker of mosquitto.conf and acl (next to
# this file): a CA, the broker's certificate, and one client certificate per
# identity, its subject CN being the identity's name (the ACL's user name; a
# twin's bus.twin name). Makes only what is missing in DIR, so running it
# again with a new name signs one more client certificate with the same CA.
#
#   make-certs.sh DIR SERVER_NAME NAME...
#
#   DIR          where the files go (created, mode 700)
#   SERVER_NAME  the broker's name as the twins write it in broker.host, as a
#                subjectAltName: IP:10.0.0.5 or DNS:broker.plant.example
#   NAME         an identity: 1..64 of A-Z a-z 0-9 _ - (a name of the bus)
#
# Writes ca.crt, ca.key (the CA: keep ca.key off the broker and off the
# twins' machines), server.crt, server.key, and NAME.crt, NAME.key for each
# NAME. Keys are EC P-256, mode 600: give server.key to the user mosquitto,
# each NAME.key to its twin's or program's user only. Validity: the CA 10
# years, the others DAYS days (default 825). Example, the identities of acl:
#
#   sh make-certs.sh /etc/dtwin/pki IP:10.0.0.5 tank1 tank2 planner ops
#
# Needs the openssl command (OpenSSL 1.1.1 or 3). tests/unit/test_bus_acl.c
# makes its certificates with this script.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 DIR SERVER_NAME [NAME...]" >&2
    exit 2
fi
dir=$1
server=$2
shift 2
days=${DAYS:-825}

case $server in
IP:?* | DNS:?*) ;;
*)
    echo "$0: SERVER_NAME must be IP:address or DNS:name, not '$server'" >&2
    exit 2
    ;;
esac
for name in "$@"; do
    # a bus name: it becomes a topic level and an ACL user name; "ca" and
    # "server" would overwrite the CA's or the broker's files
    if ! printf '%s' "$name" | grep -Eqx '[A-Za-z0-9_-]{1,64}' ||
        [ "$name" = ca ] || [ "$name" = server ]; then
        echo "$0: '$name' is not a name of the bus (1..64 of A-Z a-z 0-9 _ -; not ca, server)" >&2
        exit 2
    fi
done

umask 077
mkdir -p "$dir"
ext=$(mktemp)
trap 'rm -f "$ext"' EXIT
# the extensions of each kind of certificate, independent of the system's
# openssl.cnf
cat >"$ext" <<EOT
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $server
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOT

if [ ! -f "$dir/ca.crt" ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 \
        -subj "/CN=dtwin bus CA" -config "$ext" -extensions ca_ext
fi

# a key, a request, and the CA's signature (serial numbers from ca.srl)
sign() { # file-name subject-cn extensions
    [ -f "$dir/$1.crt" ] && return 0
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/$1.key" -out "$dir/$1.csr" -subj "/CN=$2" -config "$ext"
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAserial "$dir/ca.srl" -CAcreateserial -days "$days" \
        -extfile "$ext" -extensions "$3" -out "$dir/$1.crt"
    rm -f "$dir/$1.csr"
}

sign server "${server#*:}" server_ext
for name in "$@"; do
    sign "$name" "$name" client_ext
done
chmod 644 "$dir"/*.crt
