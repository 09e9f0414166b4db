#!/bin/sh
# Mimics docker-library/haproxy: `docker run IMAGE -f /path.cfg` runs haproxy,
# always in master-worker mode (-W) in the foreground with logs to stderr (-db).
set -e
if [ "${1#-}" != "$1" ]; then
	set -- haproxy "$@"
fi
if [ "$1" = 'haproxy' ]; then
	shift
	set -- haproxy -W -db "$@"
fi
exec "$@"
