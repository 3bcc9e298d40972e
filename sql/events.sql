-- The clickstream as the producer writes it: one JSON object per record, the REES46 columns. The
-- connector (a file for `analyze`, a Kinesis stream for the streaming job) is rendered per
-- environment into the WITH clause; the records are read once, as bytes, and judged by the one
-- rule for a valid event, sql/valid_event.json (the producer and `analyze` apply the same file):
--   EVENT_TIME(payload)   the event time of a valid event, else the epoch (a rowtime is never null,
--                         and what is not a valid event does not move the watermark);
--   CHECK_EVENT(payload)  the reason it is not a valid event, or null and the event's columns.
-- `clicks` is every valid event; sql/dead_letters.sql is every other record, with its reason and
-- where it came from (shard_id, sequence_number: a Kinesis record's metadata, null for a file).
CREATE TEMPORARY FUNCTION IF NOT EXISTS EVENT_TIME AS 'io.clickflow.udf.EventTime' LANGUAGE JAVA;

CREATE TEMPORARY FUNCTION IF NOT EXISTS CHECK_EVENT AS 'io.clickflow.udf.CheckEvent' LANGUAGE JAVA;

CREATE TEMPORARY TABLE events_raw (
    payload   BYTES,
    ${origin_columns}
    event_ts  AS EVENT_TIME(payload),
    -- Events may arrive up to ${watermark_delay} out of order and still count in their windows.
    WATERMARK FOR event_ts AS event_ts - ${watermark_delay}
) WITH (
${connector_options}
);

-- Every record with its verdict: `reason` null for a valid event.
CREATE TEMPORARY VIEW events AS
SELECT c.event_ts, c.payload, c.shard_id, c.sequence_number, c.v.reason AS reason, c.v.event_type AS event_type, c.v.product_id AS product_id,
       c.v.category_id AS category_id, c.v.category_code AS category_code, c.v.brand AS brand,
       c.v.price AS price, c.v.user_id AS user_id, c.v.user_session AS user_session
FROM  (SELECT event_ts, payload, shard_id, sequence_number, CHECK_EVENT(payload) AS v FROM events_raw) AS c;

-- Every valid event; the analytics read this view, never `events` directly.
CREATE TEMPORARY VIEW clicks AS
SELECT event_ts, event_type, product_id, category_id, category_code, brand, price, user_id, user_session
FROM   events
WHERE  reason IS NULL;
