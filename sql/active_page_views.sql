-- Page views per tumbling window, and the sessions that viewed at least one page in it.
CREATE TEMPORARY VIEW active_page_views AS
SELECT 'active_page_views'           AS analytic,
       window_start,
       window_end,
       COUNT(*)                      AS page_views,
       COUNT(DISTINCT user_session)  AS active_sessions
FROM   TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_ts), ${window}))
WHERE  event_type = 'view'
GROUP  BY window_start, window_end;
