-- The top ${top_n} categories of each ISO weekday (1 = Monday .. 7 = Sunday, from the UTC event
-- time) by views; ties go to the smaller category_id. Revenue sums purchase prices only.
CREATE TEMPORARY VIEW category_weekday_activity AS
SELECT MOD(DAYOFWEEK(event_ts) + 5, 7) + 1                                          AS weekday,  -- DAYOFWEEK: 1 = Sunday
       category_id,
       MAX(category_code)                                                          AS category_code,
       COUNT(*) FILTER (WHERE event_type = 'view')                                 AS `views`,
       COUNT(*) FILTER (WHERE event_type = 'cart')                                 AS carts,
       COUNT(*) FILTER (WHERE event_type = 'purchase')                             AS purchases,
       COALESCE(SUM(CAST(price AS DECIMAL(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
                                                                                   AS revenue,
       COUNT(DISTINCT user_id)                                                     AS users
FROM   clicks
GROUP  BY MOD(DAYOFWEEK(event_ts) + 5, 7) + 1, category_id;

CREATE TEMPORARY VIEW category_weekday AS
SELECT 'category_weekday'                 AS insight,
       weekday,
       `rank`,
       category_id,
       category_code,
       `views`,
       carts,
       purchases,
       CAST(revenue AS DECIMAL(20, 2))    AS revenue,
       users
FROM (
    SELECT *,
           ROW_NUMBER() OVER (PARTITION BY weekday ORDER BY `views` DESC, category_id ASC) AS `rank`
    FROM   category_weekday_activity
)
WHERE  `rank` <= ${top_n};
