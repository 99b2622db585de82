// fleet dashboard: follow the event stream, re-render the panels when something happens,
// and turn buttons into API calls. No framework, no external assets.
(function () {
  "use strict";
  const panels = document.getElementById("panels");
  const dot = document.getElementById("live-dot");
  const liveText = document.getElementById("live-text");
  const tokenInput = document.getElementById("token");
  const toast = document.getElementById("toast");

  if (tokenInput) {
    tokenInput.value = localStorage.getItem("fleet-token") || "";
    tokenInput.addEventListener("change", () => localStorage.setItem("fleet-token", tokenInput.value));
  }

  let refreshTimer = null;
  let refreshing = false;
  async function refresh() {
    if (refreshing) { scheduleRefresh(); return; }
    refreshing = true;
    try {
      const res = await fetch("/ui/panels", { cache: "no-store" });
      // An error body (Redis down) is not panels: keep the last good ones and say so.
      if (!res.ok) { setLive(false, "controller error (HTTP " + res.status + "), retrying"); return; }
      const html = await res.text();
      // Keep what the operator is typing: skip the swap while an input inside has focus.
      const active = document.activeElement;
      if (!(active && panels.contains(active) && active.tagName === "INPUT")) {
        panels.innerHTML = html;
      }
      // Clear an earlier refresh error, unless the event stream is what is down.
      if (!dot.classList.contains("ok") && source && source.readyState === EventSource.OPEN) {
        setLive(true, "live");
      }
    } catch (e) {
      setLive(false, "cannot reach the controller");
    } finally {
      refreshing = false;
    }
  }
  function scheduleRefresh() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 200);
  }

  function setLive(ok, text) {
    dot.className = "dot " + (ok ? "ok" : "bad");
    liveText.textContent = text;
  }

  let source = null;
  function connect() {
    source = new EventSource("/api/v1/events");
    source.onopen = () => setLive(true, "live");
    source.onmessage = (msg) => {
      setLive(true, "live");
      try {
        const ev = JSON.parse(msg.data);
        liveText.textContent = "live · " + ev.event + (ev.order ? " " + ev.order.slice(-8) : "");
      } catch (_) { /* a malformed event is not worth breaking the page for */ }
      scheduleRefresh();
    };
    // EventSource reconnects by itself and resumes after Last-Event-ID.
    source.onerror = () => setLive(false, "reconnecting…");
  }

  let toastTimer = null;
  function showToast(text, bad) {
    toast.textContent = text;
    toast.className = "show " + (bad ? "bad" : "ok");
    // A new toast gets its full 4 s: the previous one's timer must not hide it early.
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.className = ""; }, 4000);
  }

  async function post(path, body) {
    const headers = { "Content-Type": "application/json" };
    const token = localStorage.getItem("fleet-token");
    if (token) headers["Authorization"] = "Bearer " + token;
    const res = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
    let data = {};
    try { data = await res.json(); } catch (_) { /* empty body */ }
    if (!res.ok) throw new Error(data.error || ("HTTP " + res.status));
    return data;
  }

  // Enter in an answer box sends the answer.
  panels.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || !e.target.id || !e.target.id.startsWith("answer-")) return;
    const button = e.target.parentElement.querySelector("button[data-action=answer]");
    if (button) button.click();
  });

  panels.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const id = button.dataset.id;
    const action = button.dataset.action;
    button.disabled = true;
    try {
      if (action === "retry") {
        await post("/api/v1/orders/" + id + "/retry");
        showToast("order " + id.slice(-8) + " queued again");
      } else if (action === "cancel") {
        await post("/api/v1/orders/" + id + "/cancel");
        showToast("order " + id.slice(-8) + " cancelled");
      } else if (action === "answer") {
        const input = document.getElementById("answer-" + id);
        await post("/api/v1/clarifications/" + id + "/answer", { text: input ? input.value : "" });
        showToast("answer sent");
      } else if (action === "approve") {
        await post("/api/v1/orders/" + id + "/approve");
        showToast("order " + id.slice(-8) + " approved");
      } else if (action === "reject") {
        const reason = prompt("Why is it rejected?") || "";
        await post("/api/v1/orders/" + id + "/reject", { reason });
        showToast("order " + id.slice(-8) + " rejected");
      }
      refresh();
    } catch (err) {
      showToast(err.message, true);
      button.disabled = false;
    }
  });

  connect();
  // Heartbeat ages and durations move even when no event arrives.
  setInterval(refresh, 5000);
})();
