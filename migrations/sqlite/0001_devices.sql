-- Devices (cameras, NVRs) known to the platform. Times are Unix milliseconds.
CREATE TABLE devices (
    device_id     TEXT PRIMARY KEY NOT NULL,
    name          TEXT,
    manufacturer  TEXT,
    model         TEXT,
    firmware      TEXT,
    transport     TEXT,            -- 'udp' | 'tcp': how the device last registered
    contact       TEXT,            -- Contact URI from the last REGISTER
    source_addr   TEXT,            -- ip:port the last REGISTER came from
    local_addr    TEXT,            -- our ip:port it reached
    expires       INTEGER,         -- granted registration lifetime, seconds
    registered_at INTEGER,
    last_seen     INTEGER,
    online        BOOLEAN NOT NULL DEFAULT FALSE,
    password      TEXT,            -- per-device password; NULL = sip.password
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX devices_online ON devices (online);
