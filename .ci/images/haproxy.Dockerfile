ARG BASE
FROM ${BASE}
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY haproxy-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# Like docker-library/haproxy: the configuration is the user's, mounted at
# /usr/local/etc/haproxy/haproxy.cfg; the server runs as the haproxy user
# (so it binds ports above 1023) and SIGUSR1 stops it softly.
WORKDIR /var/lib/haproxy
USER haproxy
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
