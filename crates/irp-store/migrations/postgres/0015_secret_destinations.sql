-- Where each secret may be sent: the origins (`https://host:443`, `sftp://host:22`) of the
-- connector it was first used with after it was stored, as a JSON array. NULL: not used since it
-- was stored; the next use binds it. A document whose connector now points elsewhere cannot use
-- it until the secret is stored again. Keep in step with the other backend's
-- 0015_secret_destinations.sql.

ALTER TABLE secrets ADD COLUMN destinations TEXT;
