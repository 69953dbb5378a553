-- The integrator's transport preference gets a column of its own: `transport` is how the
-- device last registered and every REGISTER overwrites it, so a preference kept there was
-- lost at the device's next registration.
-- transport_pref: 'udp' | 'tcp' | 'tcp_passive' | 'tcp_active'; NULL = follow the device.
ALTER TABLE devices ADD COLUMN transport_pref TEXT;

-- Rows that never registered only ever had `transport` from the API: that was a preference.
-- Registered rows hold what the device used; a preference they had is lost already.
UPDATE devices SET transport_pref = transport, transport = NULL
    WHERE registered_at IS NULL AND transport IS NOT NULL;
