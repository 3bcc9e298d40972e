-- Per UTC day: distinct users, distinct sessions, events, purchases and revenue (purchase prices).
CREATE TEMPORARY VIEW daily_visitors AS
SELECT 'daily_visitors'                                                                AS insight,
       DATE_FORMAT(event_ts, 'yyyy-MM-dd')                                             AS `day`,
       COUNT(DISTINCT user_id)                                                         AS users,
       COUNT(DISTINCT user_session)                                                    AS sessions,
       COUNT(*)                                                                        AS events,
       COUNT(*) FILTER (WHERE event_type = 'purchase')                                 AS purchases,
       CAST(COALESCE(SUM(CAST(price AS DECIMAL(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
            AS DECIMAL(20, 2))                                                         AS revenue
FROM   clicks
GROUP  BY DATE_FORMAT(event_ts, 'yyyy-MM-dd');
