-- SFTP host keys recorded on first use (when a connector pins none), checked on every later
-- connection to the same host and port, like OpenSSH's known_hosts.
CREATE TABLE known_hosts (
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    fingerprint  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    CONSTRAINT known_hosts_host_port PRIMARY KEY (host, port)
);
