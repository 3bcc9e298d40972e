-- A Kinesis Data Analytics SQL application (the lab's, as its SQL alone): events and revenue per event
-- type and minute of arrival. `clickflow migrate` takes the input's columns from --sample records (as
-- KDA's schema discovery did: upper-case names) or from how this SQL uses them.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (EVENT_TYPE VARCHAR(16), EVENTS INTEGER, REVENUE DOUBLE);
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
SELECT STREAM EVENT_TYPE, COUNT(*), SUM(PRICE)
FROM "SOURCE_SQL_STREAM_001"
GROUP BY EVENT_TYPE, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '60' SECOND);
