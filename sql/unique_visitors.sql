-- Unique visitors per tumbling window: distinct users, distinct sessions, and all events.
-- With window 1d this is unique visitors per day.
CREATE TEMPORARY VIEW unique_visitors AS
SELECT 'unique_visitors'             AS analytic,
       window_start,
       window_end,
       COUNT(DISTINCT user_id)       AS unique_users,
       COUNT(DISTINCT user_session)  AS unique_sessions,
       COUNT(*)                      AS events
FROM   TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_ts), ${window}))
GROUP  BY window_start, window_end;
