// kmirror dashboard: polls /status every second and redraws. Everything is built with DOM
// calls and textContent (topic names and error messages are data, never markup).
"use strict";

(function () {
  const POLL_MS = 1000;
  const WINDOW_S = 600; // chart history kept in the page
  const MAX_ROWS = 500; // partition rows rendered; the filter finds the rest
  const PALETTE = ["#2f6fde", "#e07a1f", "#12805c", "#9b4dca", "#c0262d", "#0e8fa3", "#7a6a00"];

  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat("en-US");
  const fmt1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

  let token = sessionStorage.getItem("kmirror-token") || "";
  let previous = null; // last /status document, for rates and latency windows
  let failures = 0;
  const history = { t: [], flows: [], lag: [], latency: [], throughput: [] };
  const charts = {};
  const rates = new Map(); // "flow|topic|partition" -> records/s

  // A token may come in the URL fragment (#token=...): take it and drop it from the address bar.
  if (location.hash.startsWith("#token=")) {
    token = decodeURIComponent(location.hash.slice(7));
    sessionStorage.setItem("kmirror-token", token);
    history_replace();
  }
  function history_replace() {
    window.history.replaceState(null, "", location.pathname + location.search);
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c != null) e.append(c);
    return e;
  }

  const num = (v) => (v == null || v < 0 ? "–" : fmt.format(v));
  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return fmt1.format(n / 1024) + " KiB";
    return fmt1.format(n / 1048576) + " MiB";
  }
  function ago(ms, now) {
    if (!ms) return "never";
    const s = Math.max(0, Math.round((now - ms) / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  function stateClass(state) {
    if (state === "replicating") return "badge badge-ok";
    if (state === "failed" || state === "stopped") return "badge badge-bad";
    return "badge badge-warn";
  }
  function dot(reachable, known) {
    return el("span", { class: "dot " + (!known ? "dot-unknown" : reachable ? "dot-ok" : "dot-bad") });
  }

  // p99 of the records replicated between two polls, from the histogram bucket differences.
  function windowP99(cur, prev) {
    if (!prev) return null;
    const b = cur.buckets.map((n, i) => n - (prev.buckets[i] || 0));
    const total = b.reduce((a, n) => a + n, 0);
    if (total <= 0 || b.some((n) => n < 0)) return null;
    const rank = Math.floor(0.99 * total);
    let seen = 0;
    for (let i = 0; i < b.length; i++) {
      seen += b[i];
      // A bucket's upper bound, but never above the largest latency seen.
      if (seen > rank) return i < cur.bounds.length ? Math.min(cur.bounds[i], cur.max) : cur.max;
    }
    return cur.max;
  }

  // ---- charts --------------------------------------------------------------------------

  function makeChart(id, flows) {
    const host = $(id);
    host.textContent = "";
    const opts = {
      width: Math.max(300, host.clientWidth),
      height: 220,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [
        {
          stroke: "#667085", grid: { stroke: "#eef1f5" }, ticks: { stroke: "#dde2ea" }, space: 70,
          values: (u, vals) => vals.map((v) => clock(v * 1000)),
        },
        {
          stroke: "#667085", size: 64, grid: { stroke: "#eef1f5" }, ticks: { stroke: "#dde2ea" },
          values: (u, vals) => vals.map((v) => fmt1.format(v)),
        },
      ],
      series: [{ value: (u, v) => (v == null ? "–" : clock(v * 1000)) }].concat(flows.map((f, i) => ({
        label: f,
        stroke: PALETTE[i % PALETTE.length],
        fill: PALETTE[i % PALETTE.length] + "1a",
        width: 2,
        points: { show: false },
        value: (u, v) => (v == null ? "–" : fmt1.format(v)),
      }))),
    };
    const data = [history.t].concat(flows.map(() => []));
    charts[id] = new uPlot(opts, data, host);
  }

  function rebuildCharts(flows) {
    history.flows = flows;
    history.t = [];
    for (const k of ["lag", "latency", "throughput"]) history[k] = flows.map(() => []);
    makeChart("chart-lag", flows);
    makeChart("chart-latency", flows);
    makeChart("chart-throughput", flows);
  }

  function record(st) {
    const ids = st.flows.map((f) => f.id);
    if (ids.join("\n") !== history.flows.join("\n")) rebuildCharts(ids);
    const prevById = new Map((previous ? previous.flows : []).map((f) => [f.id, f]));
    const dt = previous ? (st.time_ms - previous.time_ms) / 1000 : 0;
    history.t.push(st.time_ms / 1000);
    // Latency of the flow's heartbeats: known even while no user record flows.
    function heartbeatFigure(hb, now) {
      if (!hb || !hb.enabled) return figure("Heartbeat latency", "–", "flow-heartbeat", "small", "heartbeats off");
      const known = hb.last_latency_ms >= 0 && hb.last_replicated_ms > 0;
      const late = known && now - hb.last_replicated_ms > 5 * hb.interval_ms;
      return figure("Heartbeat latency", known ? fmt.format(hb.last_latency_ms) + " ms" : "–", "flow-heartbeat",
        late || hb.error ? "small warn" : "small",
        hb.error ? hb.error : known ? "last " + ago(hb.last_replicated_ms, now) : "none yet");
    }
    // Broker throttling (client quotas) of the flow's clients, summed over brokers.
    function throttleFigure(list) {
      const total = (list || []).reduce((n, t) => n + t.total_ms, 0);
      const now = (list || []).reduce((n, t) => Math.max(n, t.last_ms), 0);
      return figure("Throttled", total ? fmt.format(total) + " ms" : "0 ms", "flow-throttle",
        now > 0 ? "small warn" : "small", now > 0 ? "now " + fmt.format(now) + " ms" : "since start");
    }
    st.flows.forEach((f, i) => {
      const p = prevById.get(f.id);
      history.lag[i].push(f.lag);
      history.latency[i].push(p ? windowP99(f.latency_ms, p.latency_ms) : null);
      const d = p ? f.records_replicated - p.records_replicated : -1;
      history.throughput[i].push(dt > 0 && d >= 0 ? d / dt : null);
    });
    while (history.t.length && history.t[0] < st.time_ms / 1000 - WINDOW_S) {
      history.t.shift();
      for (const k of ["lag", "latency", "throughput"]) history[k].forEach((s) => s.shift());
    }
    charts["chart-lag"].setData([history.t, ...history.lag]);
    charts["chart-latency"].setData([history.t, ...history.latency]);
    charts["chart-throughput"].setData([history.t, ...history.throughput]);
  }

  window.addEventListener("resize", () => {
    for (const [id, c] of Object.entries(charts)) {
      c.setSize({ width: Math.max(300, $(id).clientWidth), height: 220 });
    }
  });

  // ---- panels --------------------------------------------------------------------------

  function figure(label, value, testid, cls, note) {
    const v = el("div", { class: "value" + (cls ? " " + cls : ""), text: value });
    if (testid) v.setAttribute("data-testid", testid);
    return el("div", { class: "figure" }, el("div", { class: "label", text: label }), v,
      note ? el("div", { class: "note", text: note }) : null);
  }

  function renderFlows(st) {
    const host = $("flows");
    host.textContent = "";
    if (!st.flows.length) {
      host.append(el("div", { class: "panel muted", text: "No flow is configured." }));
      return;
    }
    const prevById = new Map((previous ? previous.flows : []).map((f) => [f.id, f]));
    // Latency of the flow's heartbeats: known even while no user record flows.
    function heartbeatFigure(hb, now) {
      if (!hb || !hb.enabled) return figure("Heartbeat latency", "–", "flow-heartbeat", "small", "heartbeats off");
      const known = hb.last_latency_ms >= 0 && hb.last_replicated_ms > 0;
      const late = known && now - hb.last_replicated_ms > 5 * hb.interval_ms;
      return figure("Heartbeat latency", known ? fmt.format(hb.last_latency_ms) + " ms" : "–", "flow-heartbeat",
        late || hb.error ? "small warn" : "small",
        hb.error ? hb.error : known ? "last " + ago(hb.last_replicated_ms, now) : "none yet");
    }
    // Broker throttling (client quotas) of the flow's clients, summed over brokers.
    function throttleFigure(list) {
      const total = (list || []).reduce((n, t) => n + t.total_ms, 0);
      const now = (list || []).reduce((n, t) => Math.max(n, t.last_ms), 0);
      return figure("Throttled", total ? fmt.format(total) + " ms" : "0 ms", "flow-throttle",
        now > 0 ? "small warn" : "small", now > 0 ? "now " + fmt.format(now) + " ms" : "since start");
    }
    st.flows.forEach((f, i) => {
      const p = prevById.get(f.id);
      const dt = previous ? (st.time_ms - previous.time_ms) / 1000 : 0;
      const d = p ? f.records_replicated - p.records_replicated : -1;
      const rate = dt > 0 && d >= 0 ? fmt1.format(d / dt) : "–";
      const known = f.last_topic_sync_ms > 0 || (f.errors && f.errors.topic_sync > 0);
      const lat = f.latency_ms;
      const stopped = f.partitions.filter((x) => x.stopped).length;
      const card = el("article", { class: "panel card", "data-flow": f.id },
        el("div", { class: "card-head" },
          el("span", { class: "dot" }),
          el("h2", { text: f.id }),
          el("span", { class: stateClass(f.state), text: f.state, "data-testid": "flow-state" }),
          f.backpressure ? el("span", { class: "badge badge-warn", text: "backpressure" }) : null,
          stopped ? el("span", { class: "badge badge-bad", text: stopped + " partition(s) stopped" }) : null),
        el("div", { class: "route" },
          dot(f.source.reachable, known), el("span", { text: f.source.name }),
          el("span", { text: "→" }),
          dot(f.target.reachable, known), el("span", { text: f.target.name }),
          el("span", { class: "muted", text: " · " + f.topics + " topic(s), " + f.partitions.length + " partition(s)" })),
        el("div", { class: "figures" },
          figure("Lag (records)", fmt.format(f.lag), "flow-lag", f.lag > 0 ? "warn" : ""),
          figure("Records/s", rate, "flow-rate"),
          figure("Replicated", fmt.format(f.records_replicated), "flow-replicated"),
          figure("Errors", fmt.format(f.errors_total), "flow-errors", f.errors_total > 0 ? "bad" : ""),
          figure("Latency p50 / p99", lat.count ? fmt.format(lat.p50) + " / " + fmt.format(lat.p99) + " ms" : "–",
            "flow-latency", "small", "since start"),
          figure("Max latency", lat.count ? fmt.format(lat.max) + " ms" : "–", null, "small", "since start"),
          heartbeatFigure(f.heartbeat, st.time_ms),
          throttleFigure(f.throttle),
          figure("Bytes replicated", bytes(f.bytes_replicated), null, "small"),
          figure("In flight", bytes(f.inflight_bytes), null, "small",
            f.backpressure ? "consumption paused" : null)),
        el("div", { class: "syncs" },
          el("span", { text: "Topics synced " + ago(f.last_topic_sync_ms, st.time_ms) }),
          el("span", { text: "Positions stored " + ago(f.last_position_store_ms, st.time_ms) }),
          el("span", { text: "Group offsets synced " + (f.last_group_sync_ms ?
            ago(f.last_group_sync_ms, st.time_ms) + " (" + f.groups_synced + " group(s))" : "never") })));
      // The series colour of the flow in the charts.
      card.querySelector(".card-head .dot").style.background = PALETTE[i % PALETTE.length];
      host.append(card);
    });
  }

  function renderClusters(st) {
    const body = $("clusters");
    body.textContent = "";
    for (const f of st.flows) {
      const known = f.last_topic_sync_ms > 0 || (f.errors && f.errors.topic_sync > 0);
      for (const [role, c] of [["source", f.source], ["target", f.target]]) {
        const state = !known ? ["badge badge-unknown", "not yet"] :
          c.reachable ? ["badge badge-ok", "reachable"] : ["badge badge-bad", "unreachable"];
        body.append(el("tr", { "data-cluster": c.name, "data-role": role },
          el("td", { text: c.name }), el("td", { text: role }), el("td", { text: f.id }),
          el("td", {}, el("code", { text: c.cluster_id || "–" })),
          el("td", {}, el("span", { class: state[0], text: state[1] }))));
      }
    }
  }

  function renderPartitions(st) {
    const prev = new Map();
    const dt = previous ? (st.time_ms - previous.time_ms) / 1000 : 0;
    for (const f of previous ? previous.flows : []) {
      for (const p of f.partitions) prev.set(f.id + "|" + p.topic + "|" + p.partition, p.records_replicated);
    }
    const filter = $("filter").value.trim().toLowerCase();
    const laggingOnly = $("lagging").checked;
    const rows = [];
    let total = 0;
    for (const f of st.flows) {
      for (const p of f.partitions) {
        total++;
        const key = f.id + "|" + p.topic + "|" + p.partition;
        const before = prev.get(key);
        if (dt > 0 && before != null && p.records_replicated >= before) {
          rates.set(key, (p.records_replicated - before) / dt);
        }
        if (filter && !p.topic.toLowerCase().includes(filter)) continue;
        if (laggingOnly && p.lag === 0 && !p.stopped) continue;
        rows.push([f, p, key]);
      }
    }
    rows.sort((a, b) => a[0].id.localeCompare(b[0].id) || a[1].topic.localeCompare(b[1].topic) ||
      a[1].partition - b[1].partition);
    const body = $("partitions");
    body.textContent = "";
    for (const [f, p, key] of rows.slice(0, MAX_ROWS)) {
      const r = rates.get(key);
      body.append(el("tr", { "data-topic": p.topic, "data-partition": String(p.partition) },
        el("td", { text: f.id }), el("td", { text: p.topic }),
        el("td", { class: "num", text: String(p.partition) }),
        el("td", { class: "num", text: num(p.position) }),
        el("td", { class: "num", text: num(p.source_end) }),
        el("td", { class: "num", text: fmt.format(p.lag) }),
        el("td", { class: "num", text: r == null ? "–" : fmt1.format(r) }),
        el("td", { class: "num", text: num(p.last_latency_ms) }),
        el("td", { class: "num", text: num(p.record_age_ms) }),
        p.stopped ? el("td", { class: "stopped", text: "stopped: " + p.error }) :
          el("td", {}, el("span", { class: "badge badge-ok", text: "ok" }))));
    }
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { class: "empty-row", colspan: "10",
        text: total ? "No partition matches the filter." : "No partitions are replicated yet." })));
    }
    $("partition-count").textContent = rows.length > MAX_ROWS ?
      "showing " + MAX_ROWS + " of " + rows.length : rows.length + " of " + total;
  }

  function renderEvents(st) {
    const list = $("events");
    list.textContent = "";
    const events = st.events.slice().reverse();
    if (!events.length) list.append(el("li", { class: "empty", text: "Nothing has happened yet." }));
    for (const e of events) {
      const cls = e.level === "error" ? "badge badge-bad" : e.level === "warning" ? "badge badge-warn" : "badge badge-unknown";
      list.append(el("li", {},
        el("span", { class: "time", text: clock(e.time_ms) }),
        el("span", { class: "level " + cls, text: e.level }),
        el("span", { class: "flow", text: e.flow }),
        el("span", { class: "message", text: e.message })));
    }
  }

  function renderHeader(st) {
    $("version").textContent = st.version;
    const badge = $("readiness");
    badge.className = st.ready ? "badge badge-ok" : "badge badge-bad";
    badge.textContent = st.ready ? "ready" : "not ready";
    const list = $("not-ready");
    list.textContent = "";
    for (const r of st.not_ready) list.append(el("li", { text: r }));
    list.hidden = st.ready;
    $("updated").textContent = "updated " + clock(st.time_ms);
  }

  function render(st) {
    renderHeader(st);
    record(st);
    renderFlows(st);
    renderClusters(st);
    renderPartitions(st);
    renderEvents(st);
    previous = st;
    window.kmirrorDashboard.status = st;
  }

  // ---- polling -------------------------------------------------------------------------

  async function poll() {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 5000);
    try {
      const headers = token ? { Authorization: "Bearer " + token } : {};
      const res = await fetch("status", { headers, cache: "no-store", signal: ctl.signal });
      if (res.status === 401) {
        $("auth").hidden = false;
        $("main").hidden = true;
        return;
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      const st = await res.json();
      $("auth").hidden = true;
      $("main").hidden = false;
      $("banner").hidden = true;
      failures = 0;
      render(st);
    } catch (e) {
      failures++;
      if (failures >= 2) {
        $("banner").textContent = "Lost contact with kmirror (" + e.message + "); retrying every second.";
        $("banner").hidden = false;
        $("readiness").className = "badge badge-unknown";
        $("readiness").textContent = "no contact";
      }
    } finally {
      clearTimeout(timer);
      setTimeout(poll, POLL_MS);
    }
  }

  $("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("kmirror-token", token);
  });
  $("filter").addEventListener("input", () => previous && renderPartitions(previous));
  $("lagging").addEventListener("change", () => previous && renderPartitions(previous));

  // For tests and the curious: the last /status and how many points each chart holds.
  window.kmirrorDashboard = {
    status: null,
    points(chart) {
      const i = ["lag", "latency", "throughput"].indexOf(chart);
      if (i < 0) return 0;
      return history[chart].reduce((n, s) => n + s.filter((v) => v != null).length, 0);
    },
  };
  poll();
})();
