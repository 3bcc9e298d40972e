-- Athena: the top ${top_n} categories of each ISO weekday (1 = Monday) by views, as sql/batch/category_weekday.sql.
-- Add  WHERE dt BETWEEN '2019-10-01' AND '2019-10-31'  to read only those days (partition projection).
WITH activity AS (
    SELECT day_of_week(event_ts)                                                       AS weekday,
           category_id,
           max(category_code)                                                          AS category_code,
           count_if(event_type = 'view')                                               AS views,
           count_if(event_type = 'cart')                                               AS carts,
           count_if(event_type = 'purchase')                                           AS purchases,
           coalesce(sum(CAST(price AS decimal(18, 2))) FILTER (WHERE event_type = 'purchase'), 0) AS revenue,
           count(DISTINCT user_id)                                                     AS users
    FROM   "${database}"."events"
    GROUP  BY day_of_week(event_ts), category_id
)
SELECT *
FROM (
    SELECT *, row_number() OVER (PARTITION BY weekday ORDER BY views DESC, category_id) AS "rank"
    FROM   activity
)
WHERE  "rank" <= ${top_n}
ORDER  BY weekday, "rank";
