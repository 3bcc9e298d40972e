-- The top ${top_n} categories of each ISO weekday (1 = Monday .. 7 = Sunday, from the UTC event time)
-- by views; ties go to the smaller category_id. Revenue sums purchase prices only.
-- Athena runs this file as it is (clickflow catalog prints it); `clickflow insights` runs the same
-- text on DuckDB through sqlglot's Trino-to-DuckDB step (jobs/insights.py). Add
--   WHERE dt BETWEEN '2019-10-01' AND '2019-10-31'
-- to the inner query to read only those days (the dt= partitions).
WITH activity AS (
    SELECT day_of_week(event_ts)                                                  AS weekday,
           category_id,
           max(category_code)                                                     AS category_code,
           count_if(event_type = 'view')                                          AS views,
           count_if(event_type = 'cart')                                          AS carts,
           count_if(event_type = 'purchase')                                      AS purchases,
           coalesce(sum(CAST(price AS decimal(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
                                                                                  AS revenue,
           count(DISTINCT user_id)                                                AS users
    FROM   "${database}"."events"
    GROUP  BY day_of_week(event_ts), category_id
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY weekday ORDER BY views DESC, category_id) AS "rank"
    FROM   activity
)
SELECT 'category_weekday'                AS insight,
       weekday,
       "rank",
       category_id,
       category_code,
       views,
       carts,
       purchases,
       CAST(revenue AS decimal(20, 2))   AS revenue,
       users
FROM   ranked
WHERE  "rank" <= ${top_n}
ORDER  BY weekday, "rank";
