// Vigie console: the little the pages need beyond HTML. No inline script anywhere (the
// Content-Security-Policy forbids it); everything hangs off data- attributes.
(function () {
  "use strict";

  // Live queue: poll the same filters every few seconds, replace the rows and the title.
  function liveQueue() {
    var body = document.getElementById("queue-rows");
    if (!body || !body.dataset.liveUrl) return;
    var url = body.dataset.liveUrl + window.location.search;
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (data) {
          if (!data) return;
          // an incident's children the technician unfolded stay unfolded after the refresh
          var unfolded = [];
          body.querySelectorAll("tr[data-case] details[open]").forEach(function (d) {
            unfolded.push(d.closest("tr").dataset.case);
          });
          body.innerHTML = data.rows; // server-rendered, autoescaped fragment
          unfolded.forEach(function (id) {
            var d = body.querySelector('tr[data-case="' + id + '"] details');
            if (d) d.open = true;
          });
          document.title = data.title;
          var total = document.getElementById("queue-total");
          if (total) total.textContent = data.total;
          // every tab: a class that has no case left is absent from the counts, so 0
          document.querySelectorAll("[data-count]").forEach(function (el) {
            el.textContent = data.counts[el.dataset.count] || 0;
          });
        })
        .catch(function () { /* transient: try again at the next tick */ })
        .then(function () { busy = false; });
    }
    window.setInterval(tick, 5000);
  }

  // Forms that ask before doing something irreversible.
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
      });
    });
  }

  // Countdown to a deadline (level-1 diagnosis), refreshed every second.
  function countdowns() {
    var els = document.querySelectorAll("[data-deadline]");
    if (!els.length) return;
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    function update() {
      els.forEach(function (el) {
        var left = Math.round((Date.parse(el.dataset.deadline) - Date.now()) / 1000);
        var sign = left < 0 ? "−" : "";
        var s = Math.abs(left);
        el.textContent = sign + Math.floor(s / 3600) + " h " + pad(Math.floor(s / 60) % 60) +
          " min " + pad(s % 60) + " s";
        el.classList.toggle("late", left < 0);
      });
    }
    update();
    window.setInterval(update, 1000);
  }

  // One submission per click: a double click must not run a workflow action twice.
  function singleSubmit() {
    document.querySelectorAll("form.action").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveQueue();
    confirmations();
    countdowns();
    singleSubmit();
  });
})();
