#!/bin/sh
echo "hello from $(uname -m)"
if [ "${1:-}" = --forever ]; then
    exec sleep 2147483647
fi
