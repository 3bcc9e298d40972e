-- The clickstream as the producer writes it: one JSON object per event, REES46 columns.
-- The connector (a file for `analyze`, a Kinesis stream for the streaming job) is rendered per
-- environment into the WITH clause; the columns, event time and watermark are the same everywhere.
CREATE TABLE events (
    event_time     STRING,
    event_type     STRING,
    product_id     BIGINT,
    category_id    BIGINT,
    category_code  STRING,
    brand          STRING,
    price          DOUBLE,
    user_id        BIGINT,
    user_session   STRING,
    -- Event time from the record, UTC: '2019-10-01 00:00:00 UTC' (REES46) or ISO 8601 with T and Z.
    -- A rowtime may never be null, so an unparsable time becomes the epoch and `clicks` drops it.
    event_ts AS COALESCE(
        TO_TIMESTAMP(REPLACE(REPLACE(REPLACE(event_time, ' UTC', ''), 'Z', ''), 'T', ' ')),
        TIMESTAMP '1970-01-01 00:00:00'),
    -- Events may arrive up to ${watermark_delay} out of order and still count in their windows.
    WATERMARK FOR event_ts AS event_ts - ${watermark_delay}
) WITH (
${connector_options}
);

-- Every valid event; the analytics read this view, never `events` directly. What it leaves out is
-- exactly what sql/dead_letters.sql reports (the producer and `analyze` reject the same rows).
CREATE TEMPORARY VIEW clicks AS
SELECT event_ts, event_type, product_id, category_id, category_code, brand, price, user_id, user_session
FROM   events
WHERE  event_ts > TIMESTAMP '1970-01-01 00:00:00'
  AND  event_type IN ('view', 'cart', 'remove_from_cart', 'purchase')
  AND  product_id IS NOT NULL
  AND  category_id IS NOT NULL
  AND  price IS NOT NULL
  AND  user_id IS NOT NULL;
