-- 0095 report grain: a coverage report's cells are jurisdiction codes as
-- they are (county, the default and what every earlier report used) or
-- states (a code's first two characters, FIPS style); NULL for the
-- other kinds.
ALTER TABLE reports ADD COLUMN grain text CHECK (grain IN ('county',
    'state'));
UPDATE reports SET grain = 'county' WHERE kind = 'coverage';
ALTER TABLE reports ADD CHECK ((kind = 'coverage') = (grain IS NOT NULL));
