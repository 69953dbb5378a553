-- Catalog: the channels (cameras, tree nodes) a device reports, and the sync state.
ALTER TABLE devices ADD COLUMN channel_count BIGINT;
ALTER TABLE devices ADD COLUMN catalog_state TEXT NOT NULL DEFAULT 'never';   -- never | running | complete | partial | failed
ALTER TABLE devices ADD COLUMN catalog_received BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN catalog_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN catalog_synced_at BIGINT;

CREATE TABLE channels (
    device_id     TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
    channel_id    TEXT NOT NULL,
    name          TEXT,
    manufacturer  TEXT,
    model         TEXT,
    owner         TEXT,
    civil_code    TEXT,
    address       TEXT,
    parental      INTEGER,
    parent_id     TEXT,
    safety_way    INTEGER,
    register_way  INTEGER,
    secrecy       INTEGER,
    status        TEXT,
    online        BOOLEAN,
    longitude     DOUBLE PRECISION,
    latitude      DOUBLE PRECISION,
    ptz_type      INTEGER,
    extra         TEXT NOT NULL DEFAULT '{}',   -- every other reported field, raw, as JSON
    first_seen    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    removed_at    BIGINT,                      -- no longer reported; kept, not deleted
    PRIMARY KEY (device_id, channel_id)
);
CREATE INDEX channels_channel_id ON channels (channel_id);
