-- Records on the events stream that the analytics cannot use, each with the reason the rule of
-- sql/valid_event.json gives (CHECK_EVENT, in sql/events.sql), kept for inspection instead of
-- dropped: exactly the records `clicks` leaves out. The payload is the record's text (bytes that
-- are not UTF-8 shown as U+FFFD); shard_id and sequence_number say where to find the raw record in
-- the stream (null for a file, and for a late event, which its payload describes).

-- COUNT_DEAD_LETTER returns the reason and counts it in the job's `deadLetters` metric. Besides the
-- records the analytics cannot use, the valid events a window dropped as late (sql/late_events.sql)
-- are dead letters too, one per analytic that dropped them, with the reason 'late for <analytic>'.
CREATE TEMPORARY FUNCTION IF NOT EXISTS COUNT_DEAD_LETTER AS 'io.clickflow.udf.CountDeadLetter' LANGUAGE JAVA;

CREATE TEMPORARY VIEW dead_letters AS
SELECT COUNT_DEAD_LETTER(reason) AS reason,
       CAST(payload AS STRING) AS payload,
       CURRENT_TIMESTAMP AS seen_at,
       shard_id,
       sequence_number
FROM   events
WHERE  reason IS NOT NULL
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
       CURRENT_TIMESTAMP AS seen_at,
       CAST(NULL AS STRING) AS shard_id,
       CAST(NULL AS STRING) AS sequence_number
FROM late_events;
