-- Per UTC day: distinct users, distinct sessions, events, purchases and revenue (purchase prices).
-- Athena runs this file as it is; `clickflow insights` runs it on DuckDB (jobs/insights.py).
SELECT 'daily_visitors'                                                           AS insight,
       date_format(event_ts, '%Y-%m-%d')                                          AS day,
       count(DISTINCT user_id)                                                    AS users,
       count(DISTINCT user_session)                                               AS sessions,
       count(*)                                                                   AS events,
       count_if(event_type = 'purchase')                                          AS purchases,
       CAST(coalesce(sum(CAST(price AS decimal(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
            AS decimal(20, 2))                                                    AS revenue
FROM   "${database}"."events"
GROUP  BY date_format(event_ts, '%Y-%m-%d')
ORDER  BY day;
