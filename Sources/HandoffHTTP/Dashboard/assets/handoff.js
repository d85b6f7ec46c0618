// Handoff's dashboard script: keeps open pages current. Every page works without it; with it, each event the
// server streams (/events/stream) makes the page fetch itself again and swap in its live regions
// ([data-live-region] elements, by id), leaving forms and whatever is being typed alone.
(function () {
  "use strict";
  if (!document.body || document.body.dataset.live !== "on" || !window.EventSource || !window.fetch) return;
  var status = document.getElementById("live-status");
  var pending = null;
  var refreshing = false;
  var again = false;

  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Handoff-Live": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live-region]").forEach(function (region) {
          var replacement = region.id && fresh.getElementById(region.id);
          if (replacement && replacement.innerHTML !== region.innerHTML) {
            region.innerHTML = replacement.innerHTML;
          }
        });
        document.body.dataset.refreshedAt = String(Date.now());
        document.dispatchEvent(new CustomEvent("handoff:refreshed"));
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource("/events/stream");
  source.onopen = function () { if (status) { status.textContent = "live"; status.classList.add("on"); } };
  source.onerror = function () { if (status) { status.textContent = "reconnecting"; status.classList.remove("on"); } };
  source.onmessage = function () {
    // Events come in bursts (one command appends several): refresh once for the burst.
    if (pending) return;
    pending = setTimeout(function () { pending = null; refresh(); }, 50);
  };
})();
