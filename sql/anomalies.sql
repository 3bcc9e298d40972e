-- Two kinds of anomaly in one output.
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
  AND  observed > mean + ${stddevs} * spread;
