// Vigie visits: the on-site checklist saves each answer as it is typed. A change that cannot
// reach the desk (lost connection) waits in localStorage and is sent again as soon as the
// network is back, so no answer already given is lost. No inline script: data- attributes.
(function () {
  "use strict";
  var form = document.getElementById("checklist-form");
  if (!form || !form.dataset.api) return;
  var api = form.dataset.api;
  var csrf = form.dataset.csrf;
  var storeKey = "vigie-checklist-" + form.dataset.visit;
  var status = document.getElementById("checklist-status");

  function load() {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "{}"); }
    catch (e) { return {}; }
  }
  function keep(queue) { window.localStorage.setItem(storeKey, JSON.stringify(queue)); }
  function mark(key, text, cls) {
    var row = form.querySelector('tr[data-item="' + key + '"]');
    if (!row) return;
    var el = row.querySelector(".saved");
    if (el) { el.textContent = text; el.className = "saved " + cls; }
    if (cls === "ok") {
      var answer = row.querySelector("input[type=radio]:checked");
      row.className = "answer-" + (answer ? answer.value : "open");
    }
  }

  function newKey() {  // 128 random bits (crypto.randomUUID needs https; this does not)
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "chk-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  var sending = false;
  function flush() {
    if (sending) return;
    var queue = load();
    var keys = Object.keys(queue);
    if (!keys.length) { if (status) status.dataset.pending = "0"; return; }
    if (status) status.dataset.pending = String(keys.length);
    sending = true;
    var key = keys[0];
    var body = queue[key];
    fetch(api + encodeURIComponent(key), {
      method: "POST",
      credentials: "same-origin",
      // the change's own key: sent again after a lost answer, it is saved once
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf,
                 "Idempotency-Key": body.key || newKey() },
      body: JSON.stringify({ answer: body.answer, notes: body.notes })
    }).then(function (r) {
      if (r.ok) {
        var now = load();
        // only drop what was sent: a newer change typed meanwhile stays queued
        if (JSON.stringify(now[key]) === JSON.stringify(body)) { delete now[key]; keep(now); }
        mark(key, "✓ enregistré", "ok");
        return true;
      }
      if (r.status >= 400 && r.status < 500) {
        var left = load(); delete left[key]; keep(left);
        mark(key, "refusé (" + r.status + ")", "error");
        return true;
      }
      throw new Error("server " + r.status);
    }).catch(function () {
      Object.keys(load()).forEach(function (k) { mark(k, "en attente du réseau", "pending"); });
      return false;
    }).then(function (progressed) {
      sending = false;
      if (progressed) flush();
    });
  }

  function queueChange(key) {
    var row = form.querySelector('tr[data-item="' + key + '"]');
    var answer = row.querySelector("input[type=radio]:checked");
    var notes = row.querySelector("textarea");
    var queue = load();
    queue[key] = { answer: answer ? answer.value : "", notes: notes ? notes.value : "",
                   key: newKey() };
    keep(queue);
    mark(key, "…", "pending");
    flush();
  }

  var timers = {};
  form.addEventListener("change", function (ev) {
    var row = ev.target.closest("tr[data-item]");
    if (row) queueChange(row.dataset.item);
  });
  form.addEventListener("input", function (ev) {
    if (ev.target.tagName !== "TEXTAREA") return;
    var row = ev.target.closest("tr[data-item]");
    if (!row) return;
    var key = row.dataset.item;
    window.clearTimeout(timers[key]);
    timers[key] = window.setTimeout(function () { queueChange(key); }, 400);
  });
  window.addEventListener("online", flush);
  window.setInterval(flush, 3000);
  flush(); // what a previous page could not send
})();
