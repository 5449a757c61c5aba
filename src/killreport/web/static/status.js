// The live status page: every 2 s, fetch /api/status and write each value into the page.
// Values are written with textContent only (never as HTML): they include ESI's hostile strings.
"use strict";
(() => {
  const PERIOD_MS = 2000;
  const fmt = (v) => {
    if (v === null || v === undefined) return "-";
    if (Array.isArray(v)) return v.map(fmt).join(", ") || "-";
    if (typeof v === "number" && !Number.isInteger(v)) return v.toFixed(1);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  };
  const at = (data, path) => path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), data);
  // A mapping becomes rows sorted by key, as the server's as_rows filter does.
  const rowsOf = (v) => Array.isArray(v) ? v : Object.keys(v || {}).sort().map((key) =>
    (v[key] !== null && typeof v[key] === "object") ? { key, ...v[key] } : { key, value: v[key] });
  const isLocal = (url) => typeof url === "string" && url.startsWith("/") && !url.startsWith("//");

  function fill(tbody, data) {
    const cols = tbody.dataset.cols.split(" ");
    tbody.replaceChildren(...rowsOf(at(data, tbody.dataset.rows)).map((row) => {
      const tr = document.createElement("tr");
      for (const col of cols) {
        const td = tr.insertCell();
        if (col === tbody.dataset.link && isLocal(row.url)) {
          const a = document.createElement("a");
          a.href = row.url;
          a.textContent = fmt(row[col]);
          td.append(a);
        } else {
          td.textContent = fmt(row[col]);
        }
      }
      return tr;
    }));
  }

  // The request rate between two polls, from the cluster-wide totals: livelier than the minutes
  // the database counts by.
  let last = null;
  function rateNow(data) {
    const total = Object.values(data.requests || {}).reduce((sum, n) => sum + n, 0);
    const now = performance.now();
    if (last !== null && now > last.at) {
      document.getElementById("rate-now").textContent = ((total - last.total) * 1000 / (now - last.at)).toFixed(1);
    }
    last = { total, at: now };
  }

  async function poll() {
    const live = document.getElementById("live");
    try {
      const answer = await fetch("/api/status", { headers: { Accept: "application/json" }, cache: "no-store" });
      const data = await answer.json();
      if (!answer.ok) throw new Error(data.error || answer.statusText);
      document.querySelectorAll("[data-k]").forEach((el) => { el.textContent = fmt(at(data, el.dataset.k)); });
      document.querySelectorAll("tbody[data-rows]").forEach((tbody) => fill(tbody, data));
      rateNow(data);
      live.textContent = "live: updated every 2 s";
    } catch (err) {
      live.textContent = "updates paused: " + err.message;
    }
    setTimeout(poll, PERIOD_MS);
  }
  document.addEventListener("DOMContentLoaded", poll);
})();
