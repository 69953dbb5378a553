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
    expires       BIGINT,          -- granted registration lifetime, seconds
    registered_at BIGINT,
    last_seen     BIGINT,
    online        BOOLEAN NOT NULL DEFAULT FALSE,
    password      TEXT,            -- per-device password; NULL = sip.password
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX devices_online ON devices (online);
