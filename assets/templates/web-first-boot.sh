#!/bin/sh
# Run once by cloud-init at the first boot after a reinstall.
set -e
apt-get update -q
apt-get install -y -q nginx
