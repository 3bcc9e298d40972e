-- Athena: per UTC day, distinct users and sessions, events, purchases and revenue, as sql/batch/daily_visitors.sql.
SELECT date_format(event_ts, '%Y-%m-%d')                                                AS day,
       count(DISTINCT user_id)                                                          AS users,
       count(DISTINCT user_session)                                                     AS sessions,
       count(*)                                                                         AS events,
       count_if(event_type = 'purchase')                                                AS purchases,
       coalesce(sum(CAST(price AS decimal(18, 2))) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
FROM   "${database}"."events"
GROUP  BY date_format(event_ts, '%Y-%m-%d')
ORDER  BY day;
