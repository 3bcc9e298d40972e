-- Brands that need marketing: every non-empty brand with at least ${min_views} views, its funnel
-- counts and conversion ratios (4 decimals), flagged when its view-to-purchase ratio is below
-- ${factor} x the same ratio over all events with a brand. The flag compares the exact ratios
-- (cross-multiplied in DECIMAL), not the rounded ones shown.
CREATE TEMPORARY VIEW brand_activity AS
SELECT brand,
       COUNT(*) FILTER (WHERE event_type = 'view')                                 AS `views`,
       COUNT(*) FILTER (WHERE event_type = 'cart')                                 AS carts,
       COUNT(*) FILTER (WHERE event_type = 'purchase')                             AS purchases,
       COALESCE(SUM(CAST(price AS DECIMAL(18, 2))) FILTER (WHERE event_type = 'purchase'), 0)
                                                                                   AS revenue
FROM   clicks
WHERE  brand IS NOT NULL AND TRIM(brand) <> ''
GROUP  BY brand;

CREATE TEMPORARY VIEW brand_overall AS
SELECT SUM(`views`) AS all_views, SUM(purchases) AS all_purchases
FROM   brand_activity;

CREATE TEMPORARY VIEW brand_marketing AS
SELECT 'brand_marketing'                                                           AS insight,
       brand,
       `views`,
       carts,
       purchases,
       CAST(revenue AS DECIMAL(20, 2))                                             AS revenue,
       CAST(ROUND(CAST(carts AS DECIMAL(20, 0)) / `views`, 4) AS DECIMAL(10, 4))     AS view_to_cart,
       CAST(ROUND(CAST(purchases AS DECIMAL(20, 0)) / `views`, 4) AS DECIMAL(10, 4)) AS view_to_purchase,
       CAST(ROUND(CAST(${factor} AS DECIMAL(38, 6)) * all_purchases / all_views, 4) AS DECIMAL(10, 4))
                                                                                   AS threshold,
       -- purchases / views < factor * all_purchases / all_views, without dividing
       CAST(purchases AS DECIMAL(38, 6)) * all_views
           < CAST(${factor} AS DECIMAL(38, 6)) * all_purchases * `views`           AS needs_marketing
FROM   brand_activity CROSS JOIN brand_overall
WHERE  `views` >= ${min_views}
ORDER  BY `views` DESC, brand ASC;
