-- concord:after-code
-- 0051 services' stored documents carry the new interpretation field
-- (directory.service_doc): rewrite them through the derive trigger.
UPDATE services SET version = version;
