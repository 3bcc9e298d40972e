// The dashboard page: follows /api/events (server-sent events) and redraws the charts and tables
// in place from each snapshot — no reload. Charts are Chart.js; tables are plain DOM, filled with
// textContent (never HTML from the data).
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement,
  PointElement, Tooltip);

const COLOURS = { blue: '#1f77b4', orange: '#ff7f0e', green: '#2ca02c', red: '#d62728', purple: '#9467bd' };

function lineChart(id, series) {
  return new Chart(document.getElementById(id), {
    type: 'line',
    data: {
      labels: [],
      datasets: series.map(([label, colour]) => ({
        label, data: [], borderColor: colour, backgroundColor: colour, pointRadius: 0, borderWidth: 2, tension: 0.2,
      })),
    },
    options: {
      animation: false, responsive: true, interaction: { mode: 'index', intersect: false },
      scales: { x: { ticks: { maxTicksLimit: 12 } }, y: { beginAtZero: true } },
    },
  });
}

function barChart(id, label, colour) {
  return new Chart(document.getElementById(id), {
    type: 'bar',
    data: { labels: [], datasets: [{ label, data: [], backgroundColor: colour }] },
    options: {
      animation: false, indexAxis: 'y', responsive: true, plugins: { legend: { display: false },
        tooltip: { callbacks: { afterLabel: (item) => item.chart.$details?.[item.dataIndex] ?? '' } } },
      scales: { x: { beginAtZero: true } },
    },
  });
}

const charts = {
  visitors: lineChart('visitors-chart', [['unique users', COLOURS.blue], ['unique sessions', COLOURS.orange]]),
  pageViews: lineChart('pageviews-chart', [['page views', COLOURS.green], ['active sessions', COLOURS.purple]]),
  topCurrent: barChart('top-current-chart', 'views', COLOURS.blue),
  topPrevious: barChart('top-previous-chart', 'views', '#8fb8dc'),
  carts: new Chart(document.getElementById('carts-chart'), {
    type: 'bar',
    data: {
      labels: [],
      datasets: [
        { label: 'abandoned sessions', data: [], backgroundColor: COLOURS.orange, yAxisID: 'count' },
        { label: 'value left in carts', data: [], type: 'line', borderColor: COLOURS.red, backgroundColor: COLOURS.red,
          yAxisID: 'value', pointRadius: 2 },
      ],
    },
    options: {
      animation: false, responsive: true,
      scales: { count: { position: 'left', beginAtZero: true }, value: { position: 'right', beginAtZero: true,
        grid: { drawOnChartArea: false } } },
    },
  }),
};
window.dashboard = { charts, last: null }; // for a look from the browser's console, and the tests

const time = (text) => (text ? text.slice(11, 19) : '');
const money = (value) => Number(value).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

function fillTable(id, rows, cells, rowClass) {
  const body = document.querySelector(`#${id} tbody`);
  const fresh = rows.map((row) => {
    const tr = document.createElement('tr');
    if (rowClass) tr.className = rowClass(row);
    for (const [value, className] of cells(row)) {
      const td = document.createElement('td');
      td.textContent = value ?? '';
      if (className) td.className = className;
      tr.appendChild(td);
    }
    return tr;
  });
  body.replaceChildren(...fresh);
}

function setSeries(chart, labels, columns) {
  chart.data.labels = labels;
  columns.forEach((values, i) => { chart.data.datasets[i].data = values; });
  chart.update('none');
}

function categoryName(row) {
  return row.category_code ? `${row.category_code} (${row.category_id})` : row.category_id;
}

function drawTop(which, top) {
  const chart = which === 'current' ? charts.topCurrent : charts.topPrevious;
  document.getElementById(`top-${which}-window`).textContent = top ? top.window : '(none yet)';
  const rows = top ? top.rows : [];
  chart.$details = rows.map((r) => `${r.purchases} purchases, revenue ${money(r.revenue)}`);
  setSeries(chart, rows.map(categoryName), [rows.map((r) => r.views)]);
  fillTable(`top-${which}`, rows, (r) => [[r.rank], [categoryName(r), 'category'], [r.views], [r.purchases],
    [money(r.revenue)]]);
}

function ago(iso) {
  if (!iso) return '—';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 90 ? `${seconds}s ago` : `${Math.round(seconds / 60)} min ago`;
}

function render(state) {
  window.dashboard.last = state;
  const broken = state.streams.filter((s) => s.status === 'missing' || s.status === 'unreachable');
  document.getElementById('summary').textContent =
    `profile ${state.profile} · ${state.rows.toLocaleString()} rows read` +
    (state.unreadable ? ` · ${state.unreadable} rows of another shape skipped` : '') +
    (broken.length ? ` · ${broken.length} stream(s) ${broken.map((s) => s.status).join(', ')}` : '');
  fillTable('streams', state.streams, (s) => [
    [`${s.name} (${s.role})`], [s.status + (s.error ? `: ${s.error}` : ''), `status-${s.status}`],
    [s.records.toLocaleString()], [s.last_record ? `${s.last_record.slice(11, 19)} (${ago(s.last_record)})` : '—'],
    [s.lag_ms == null ? '—' : `${(s.lag_ms / 1000).toFixed(1)} s`],
  ], (s) => `stream-${s.role}`);

  setSeries(charts.visitors, state.visitors.map((v) => time(v.window)),
    [state.visitors.map((v) => v.users), state.visitors.map((v) => v.sessions)]);
  setSeries(charts.pageViews, state.page_views.map((v) => time(v.window)),
    [state.page_views.map((v) => v.views), state.page_views.map((v) => v.sessions)]);
  const views = new Map(state.page_views.map((v) => [v.window, v]));
  const latest = state.visitors.slice(-5).reverse();
  fillTable('visitors-latest', latest, (v) => [[v.window], [v.users], [v.sessions],
    [views.get(v.window)?.views ?? '—'], [views.get(v.window)?.sessions ?? '—']]);

  drawTop('current', state.top.current);
  drawTop('previous', state.top.previous);

  setSeries(charts.carts, state.carts.hours.map((h) => h.hour.slice(5)),
    [state.carts.hours.map((h) => h.count), state.carts.hours.map((h) => h.value)]);
  fillTable('carts-latest', state.carts.latest, (c) => [[c.user_session.slice(0, 13)], [c.user_id],
    [c.session_end], [c.carted_products], [money(c.cart_value)]]);

  fillTable('anomalies', state.anomalies, (a) => [[`${a.window_start}–${time(a.window_end)}`], [a.anomaly_type],
    [a.entity], [a.observed], [a.expected == null ? '' : a.expected], [Number(a.score).toFixed(2)]],
  (a) => `anomaly-${a.anomaly_type}`);
  fillTable('dead-letters', state.dead_letters, (d) => [[d.reason], [d.count]]);
}

function connect() {
  const dot = document.getElementById('connection');
  const events = new EventSource('/api/events');
  events.onopen = () => { dot.className = 'live-dot on'; };
  events.onmessage = (message) => render(JSON.parse(message.data));
  events.onerror = () => {
    dot.className = 'live-dot off';
    document.getElementById('summary').textContent = 'the dashboard server is not answering; retrying…';
  };
}

// The job's health (/api/health: what `clickflow status` reads), redrawn every two seconds above the charts.
function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function renderHealth(health) {
  window.dashboard.health = health;
  document.getElementById('health').className = `health health-${health.status.replace(' ', '-')}`;
  const job = health.jobs[0];
  document.getElementById('health-status').textContent = `job ${health.status}`;
  let detail = health.message ?? (job ? '' : `no clickflow job at ${health.where}`);
  if (job) {
    const furthest = job.shards.reduce((most, s) => Math.max(most, s.lag_ms), 0);
    detail = [
      `${job.name} ${job.state.toLowerCase()} for ${duration(job.uptime_ms)}`,
      `restarts ${job.restarts}`,
      job.checkpoint_interval_ms
        ? `last checkpoint ${job.last_checkpoint_at_ms ? `${duration(job.checkpoint_age_ms)} ago` : 'none yet'}`
        : 'checkpoints off',
      `furthest shard ${duration(furthest)} behind`,
      `in ${job.records_in_per_s.toFixed(1)}/s, out ${job.records_out_per_s.toFixed(1)}/s`,
      `dead letters ${job.dead_letters_last_minute} in the last minute (${job.dead_letters} in all)`,
      `late events ${job.late_events_last_minute} (${job.late_events})`,
    ].join(' · ');
  }
  document.getElementById('health-detail').textContent = detail;
  const problems = health.jobs.flatMap((j) => j.problems);
  document.getElementById('health-problems').replaceChildren(...problems.map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
}

async function followHealth() {
  try {
    const answer = await fetch('/api/health');
    renderHealth(await answer.json());
  } catch {
    renderHealth({ status: 'unknown', message: 'the dashboard server is not answering', jobs: [] });
  }
  setTimeout(followHealth, 2000);
}

connect();
followHealth();
