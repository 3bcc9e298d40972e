-- Records on the events stream that the analytics cannot use, each with the reason, kept for
-- inspection instead of dropped. The same stream, read as text: a record that is not JSON cannot
-- be decoded into `events` at all (that table skips it; `clicks` skips the rest listed here).
-- (This file is a template: the JSON paths' dollar signs are doubled.)
CREATE TABLE events_raw (
    payload  STRING
) WITH (
${connector_options}
);

-- COUNT_DEAD_LETTER returns the reason and counts it in the job's `deadLetters` metric. Besides the
-- records the analytics cannot use, the valid events a window dropped as late (sql/late_events.sql)
-- are dead letters too, one per analytic that dropped them, with the reason 'late for <analytic>'.
CREATE TEMPORARY VIEW dead_letters AS
SELECT COUNT_DEAD_LETTER(reason) AS reason,
       payload,
       CURRENT_TIMESTAMP AS seen_at
FROM (
    SELECT payload,
           CASE
               WHEN payload IS NOT JSON OBJECT                      THEN 'not a JSON object'
               WHEN JSON_VALUE(payload, '$$.event_time')  IS NULL    THEN 'missing field event_time'
               WHEN JSON_VALUE(payload, '$$.event_type')  IS NULL    THEN 'missing field event_type'
               WHEN JSON_VALUE(payload, '$$.product_id')  IS NULL    THEN 'missing field product_id'
               WHEN JSON_VALUE(payload, '$$.category_id') IS NULL    THEN 'missing field category_id'
               WHEN JSON_VALUE(payload, '$$.price')       IS NULL    THEN 'missing field price'
               WHEN JSON_VALUE(payload, '$$.user_id')     IS NULL    THEN 'missing field user_id'
               WHEN TO_TIMESTAMP(REPLACE(REPLACE(REPLACE(
                        JSON_VALUE(payload, '$$.event_time'), ' UTC', ''), 'Z', ''), 'T', ' ')) IS NULL
                   THEN CONCAT('unparsable event_time: ', JSON_VALUE(payload, '$$.event_time'))
               WHEN JSON_VALUE(payload, '$$.event_type') NOT IN ('view', 'cart', 'remove_from_cart', 'purchase')
                   THEN CONCAT('unknown event_type: ', JSON_VALUE(payload, '$$.event_type'))
               WHEN TRY_CAST(JSON_VALUE(payload, '$$.product_id') AS BIGINT) IS NULL
                   THEN 'product_id is not a whole number'
               WHEN TRY_CAST(JSON_VALUE(payload, '$$.category_id') AS BIGINT) IS NULL
                   THEN 'category_id is not a whole number'
               WHEN TRY_CAST(JSON_VALUE(payload, '$$.user_id') AS BIGINT) IS NULL
                   THEN 'user_id is not a whole number'
               WHEN TRY_CAST(JSON_VALUE(payload, '$$.price') AS DOUBLE) IS NULL
                   THEN 'price is not a number'
           END AS reason
    FROM events_raw
)
WHERE reason IS NOT NULL
UNION ALL
SELECT COUNT_DEAD_LETTER(CONCAT('late for ', analytic)) AS reason,
       JSON_OBJECT(
           'event_time'   VALUE DATE_FORMAT(event_ts, 'yyyy-MM-dd HH:mm:ss.SSS'),
           'event_type'   VALUE event_type,
           'product_id'   VALUE product_id,
           'category_id'  VALUE category_id,
           'user_id'      VALUE user_id,
           'user_session' VALUE user_session,
           'watermark'    VALUE DATE_FORMAT(watermark_ts, 'yyyy-MM-dd HH:mm:ss.SSS')
       ) AS payload,
       CURRENT_TIMESTAMP AS seen_at
FROM late_events;
