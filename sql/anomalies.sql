-- Three kinds of anomaly in one output: two fixed rules and one learned.
--
-- bot_burst: a user with more than ${bot_threshold} events in one tumbling ${bot_window_text} window.
CREATE TEMPORARY VIEW bot_bursts AS
SELECT 'bot_burst'                                AS anomaly_type,
       CAST(user_id AS STRING)                    AS entity,
       window_start,
       window_end,
       COUNT(*)                                   AS observed,
       CAST(${bot_threshold} AS DOUBLE)           AS expected,
       CAST(COUNT(*) AS DOUBLE) / ${bot_threshold}     AS score
FROM   TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_ts), ${bot_window}))
GROUP  BY window_start, window_end, user_id
HAVING COUNT(*) > ${bot_threshold};

-- traffic_spike: all events per tumbling ${spike_window_text} window against the ${baseline_windows}
-- non-empty windows just before it. An OVER window may only end at the current row, so the
-- baseline is the window over [${baseline_windows} preceding, current] minus the current row.
CREATE TEMPORARY VIEW traffic_windows AS
SELECT window_start, window_end, window_time, COUNT(*) AS observed
FROM   TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_ts), ${spike_window}))
GROUP  BY window_start, window_end, window_time;

CREATE TEMPORARY VIEW traffic_baseline AS
SELECT window_start,
       window_end,
       observed,
       COUNT(*) OVER w - 1                                   AS baseline_n,
       SUM(observed) OVER w - observed                       AS baseline_sum,
       SUM(observed * observed) OVER w - observed * observed AS baseline_sumsq
FROM   traffic_windows
WINDOW w AS (ORDER BY window_time ROWS BETWEEN ${baseline_windows} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW traffic_stats AS
SELECT window_start,
       window_end,
       observed,
       baseline_n,
       mean,
       -- population standard deviation, floored at 1 so a flat baseline does not flag noise
       GREATEST(SQRT(GREATEST(CAST(baseline_sumsq AS DOUBLE) / baseline_n - mean * mean, 0.0)), 1.0) AS spread
FROM (
    SELECT *, CAST(baseline_sum AS DOUBLE) / NULLIF(baseline_n, 0) AS mean
    FROM   traffic_baseline
);

-- rcf_traffic: what the two rules above cannot see — traffic of a usual volume whose make-up is
-- unusual (a wave of bots each below the bot threshold, one category surging, purchases falling
-- away). Each tumbling ${rcf_window_text} window is described by five features: its events, the share of
-- them from heavy visits (a visit: one user in one category; heavy: more than ${rcf_heavy_events} events in the
-- window, half the bot threshold), the shares of carts and of purchases, and the surge of its most
-- surging category (a category's events in standard deviations above its own last windows). Each feature is standardised against the ${rcf_baseline_windows} non-empty windows before it
-- (so every dimension of the forest has the same scale, whatever the traffic's size), and a Random
-- Cut Forest (AWS's library, RANDOM_CUT_FOREST_WITH_EXPLANATION: ${rcf_trees} trees, a sample of
-- ${rcf_sample_size} windows, a time decay of ${rcf_time_decay} windows, seed ${rcf_seed}) scores each window against the
-- ones it has learned. One forest for the whole stream: a window is a point whatever its categories,
-- so the state is one forest, and it learns from every window. A window scoring above ${rcf_threshold} is
-- flagged; entity names the feature that made it unusual and which way (e.g. 'purchase_share low').
CREATE TEMPORARY FUNCTION IF NOT EXISTS RANDOM_CUT_FOREST_WITH_EXPLANATION
    AS 'io.clickflow.udf.RandomCutForestWithExplanation' LANGUAGE JAVA;

CREATE TEMPORARY VIEW rcf_visits AS
SELECT window_time AS visit_time, category_id, user_id,
       COUNT(*)                                                  AS events,
       COUNT(*) FILTER (WHERE event_type = 'cart')               AS carts,
       COUNT(*) FILTER (WHERE event_type = 'purchase')           AS purchases
FROM   TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(event_ts), ${rcf_window}))
GROUP  BY window_start, window_end, window_time, category_id, user_id;

CREATE TEMPORARY VIEW rcf_categories AS
SELECT window_time AS category_time, category_id,
       SUM(events)                                               AS events,
       SUM(events) FILTER (WHERE events > ${rcf_heavy_events})     AS heavy_events,
       SUM(carts)                                                AS carts,
       SUM(purchases)                                            AS purchases
FROM   TABLE(TUMBLE(TABLE rcf_visits, DESCRIPTOR(visit_time), ${rcf_window}))
GROUP  BY window_start, window_end, window_time, category_id;

-- each category's events against its own last ${rcf_baseline_windows} windows: how far above its usual it is
CREATE TEMPORARY VIEW rcf_category_baseline AS
SELECT category_time, events, heavy_events, carts, purchases,
       COUNT(*) OVER c - 1                                       AS baseline_n,
       CAST(SUM(events) OVER c - events AS DOUBLE)               AS s_events,
       CAST(SUM(events * events) OVER c - events * events AS DOUBLE) AS q_events
FROM   rcf_categories
WINDOW c AS (PARTITION BY category_id ORDER BY category_time ROWS BETWEEN ${rcf_baseline_windows} PRECEDING AND CURRENT ROW);

CREATE TEMPORARY VIEW rcf_category_surge AS
SELECT category_time, events, heavy_events, carts, purchases,
       CASE WHEN baseline_n >= ${rcf_min_baseline_windows}
            THEN (events - s_events / baseline_n)
                 / GREATEST(SQRT(GREATEST(q_events / baseline_n - POWER(s_events / baseline_n, 2), 0.0)), 1.0)
            ELSE 0.0 END                                         AS surge
FROM   rcf_category_baseline;

CREATE TEMPORARY VIEW rcf_windows AS
SELECT window_start, window_end, window_time,
       SUM(events)                                                       AS events,
       CAST(SUM(events) AS DOUBLE)                                       AS f_events,
       CAST(COALESCE(SUM(heavy_events), 0) AS DOUBLE) / SUM(events)      AS f_heavy_share,
       CAST(SUM(carts) AS DOUBLE) / SUM(events)                          AS f_cart_share,
       CAST(SUM(purchases) AS DOUBLE) / SUM(events)                      AS f_purchase_share,
       MAX(surge)                                                        AS f_surge
FROM   TABLE(TUMBLE(TABLE rcf_category_surge, DESCRIPTOR(category_time), ${rcf_window}))
GROUP  BY window_start, window_end, window_time;

CREATE TEMPORARY VIEW rcf_baseline AS
SELECT window_start, window_end, window_time, events,
       COUNT(*) OVER w - 1                                                    AS baseline_n,
       f_events, SUM(f_events) OVER w - f_events                              AS s_events,
       SUM(f_events * f_events) OVER w - f_events * f_events                  AS q_events,
       f_heavy_share, SUM(f_heavy_share) OVER w - f_heavy_share AS s_heavy,
       SUM(f_heavy_share * f_heavy_share) OVER w - f_heavy_share * f_heavy_share AS q_heavy,
       f_cart_share, SUM(f_cart_share) OVER w - f_cart_share                  AS s_cart,
       SUM(f_cart_share * f_cart_share) OVER w - f_cart_share * f_cart_share  AS q_cart,
       f_purchase_share, SUM(f_purchase_share) OVER w - f_purchase_share      AS s_purchase,
       SUM(f_purchase_share * f_purchase_share) OVER w - f_purchase_share * f_purchase_share AS q_purchase,
       f_surge, SUM(f_surge) OVER w - f_surge AS s_surge,
       SUM(f_surge * f_surge) OVER w - f_surge * f_surge AS q_surge
FROM   rcf_windows
WINDOW w AS (ORDER BY window_time ROWS BETWEEN ${rcf_baseline_windows} PRECEDING AND CURRENT ROW);

-- (x - mean) / spread against the baseline; the spread (population standard deviation) is floored at
-- a small fraction of the feature's scale, so a baseline that happened to be flat does not turn noise
-- into a large number
CREATE TEMPORARY VIEW rcf_features AS
SELECT window_start, window_end, window_time, events,
       (f_events - s_events / baseline_n)
         / GREATEST(SQRT(GREATEST(q_events / baseline_n - POWER(s_events / baseline_n, 2), 0.0)), 1.0)   AS events_z,
       (f_heavy_share - s_heavy / baseline_n)
         / GREATEST(SQRT(GREATEST(q_heavy / baseline_n - POWER(s_heavy / baseline_n, 2), 0.0)), 0.001)   AS heavy_share_z,
       (f_cart_share - s_cart / baseline_n)
         / GREATEST(SQRT(GREATEST(q_cart / baseline_n - POWER(s_cart / baseline_n, 2), 0.0)), 0.001) AS cart_share_z,
       (f_purchase_share - s_purchase / baseline_n)
         / GREATEST(SQRT(GREATEST(q_purchase / baseline_n - POWER(s_purchase / baseline_n, 2), 0.0)), 0.001)
                                                                                               AS purchase_share_z,
       (f_surge - s_surge / baseline_n)
         / GREATEST(SQRT(GREATEST(q_surge / baseline_n - POWER(s_surge / baseline_n, 2), 0.0)), 0.1) AS category_surge_z
FROM   rcf_baseline
WHERE  baseline_n >= ${rcf_min_baseline_windows};

CREATE TEMPORARY VIEW rcf_scores AS
SELECT *
FROM   RANDOM_CUT_FOREST_WITH_EXPLANATION(
           input => TABLE rcf_features,
           numberOfTrees => ${rcf_trees}, subSampleSize => ${rcf_sample_size}, timeDecay => ${rcf_time_decay},
           shingleSize => 1, withDirectionality => TRUE, seed => ${rcf_seed},
           columns => DESCRIPTOR(events_z, heavy_share_z, cart_share_z, purchase_share_z, category_surge_z));

CREATE TEMPORARY VIEW rcf_explained AS
SELECT window_start, window_end, events, ANOMALY_SCORE AS score, ANOMALY_EXPLANATION AS explanation,
       CAST(JSON_VALUE(ANOMALY_EXPLANATION, '$$.events_z.ATTRIBUTION_SCORE') AS DOUBLE)             AS a_events,
       CAST(JSON_VALUE(ANOMALY_EXPLANATION, '$$.heavy_share_z.ATTRIBUTION_SCORE') AS DOUBLE)   AS a_heavy,
       CAST(JSON_VALUE(ANOMALY_EXPLANATION, '$$.cart_share_z.ATTRIBUTION_SCORE') AS DOUBLE)         AS a_cart,
       CAST(JSON_VALUE(ANOMALY_EXPLANATION, '$$.purchase_share_z.ATTRIBUTION_SCORE') AS DOUBLE)     AS a_purchase,
       CAST(JSON_VALUE(ANOMALY_EXPLANATION, '$$.category_surge_z.ATTRIBUTION_SCORE') AS DOUBLE) AS a_surge
FROM   rcf_scores
WHERE  ANOMALY_SCORE > ${rcf_threshold};

CREATE TEMPORARY VIEW rcf_traffic AS
SELECT 'rcf_traffic' AS anomaly_type,
       feature || ' ' || LOWER(JSON_VALUE(explanation, '$$.' || feature || '_z.DIRECTION')) AS entity,
       window_start, window_end, events AS observed, CAST(${rcf_threshold} AS DOUBLE) AS expected,
       ROUND(score, 3) AS score
FROM (
    SELECT *,
           CASE GREATEST(a_events, a_heavy, a_cart, a_purchase, a_surge)
                WHEN a_events   THEN 'events'
                WHEN a_heavy      THEN 'heavy_share'
                WHEN a_cart     THEN 'cart_share'
                WHEN a_purchase THEN 'purchase_share'
                ELSE 'category_surge'
           END AS feature
    FROM   rcf_explained
);

CREATE TEMPORARY VIEW anomalies AS
SELECT 'anomalies' AS analytic, anomaly_type, entity, window_start, window_end, observed, expected, score
FROM   bot_bursts
UNION ALL
SELECT 'anomalies'                                   AS analytic,
       'traffic_spike'                               AS anomaly_type,
       'all'                                         AS entity,
       window_start,
       window_end,
       observed,
       ROUND(mean, 3)                                AS expected,
       ROUND((observed - mean) / spread, 3)          AS score
FROM   traffic_stats
WHERE  baseline_n >= ${min_baseline_windows}
  AND  observed > mean + ${stddevs} * spread
UNION ALL
SELECT 'anomalies' AS analytic, anomaly_type, entity, window_start, window_end, observed, expected, score
FROM   rcf_traffic;
