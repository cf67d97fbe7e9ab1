/* Draws the page's Plotly figures and keeps numbers and charts fresh without a reload.
 *
 * The page embeds its figures as JSON (<script id="figures">) and names a
 * live endpoint (<main data-live-url>). Every REFRESH_MS the endpoint is asked
 * for the same page state: re-rendered HTML fragments, swapped in by element
 * id, and figures, redrawn with Plotly.react (which diffs, so zoom and hover
 * survive). Paused while the tab is hidden, so idle tabs cost the server nothing.
 */
(function () {
  "use strict";

  var REFRESH_MS = 10000;
  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var inFlight = false;

  function draw(figures) {
    if (!window.Plotly || !figures) return;
    Object.keys(figures).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) window.Plotly.react(el, figures[id].data, figures[id].layout, PLOT_CONFIG);
    });
  }

  function swap(fragments) {
    Object.keys(fragments || {}).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.innerHTML = fragments[id];
    });
    widths(document);
  }

  // Meters and progress bars carry their width as data-width (a percentage): the
  // Content-Security-Policy refuses style attributes, not styles set through CSSOM.
  function widths(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) {
      var value = parseFloat(el.getAttribute("data-width"));
      if (isFinite(value)) el.style.width = Math.max(0, Math.min(100, value)) + "%";
    });
  }

  function status(text, stale) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.textContent = text;
    el.classList.toggle("stale", !!stale);
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function refresh(url) {
    if (document.hidden || inFlight) return;
    inFlight = true;
    var target = new URL(url, window.location.href);
    target.search = window.location.search;
    fetch(target, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        // A redirect means the session ended (login page); anything else non-OK is a server problem.
        if (response.redirected) throw new Error("session expired: reload to log in");
        if (!response.ok) throw new Error("refresh failed (" + response.status + ")");
        return response.json();
      })
      .then(function (payload) {
        swap(payload.fragments);
        draw(payload.figures);
        status("updated " + clock(new Date()), false);
      })
      .catch(function (error) { status(error.message, true); })
      .then(function () { inFlight = false; });
  }

  function start() {
    widths(document);
    var embedded = document.getElementById("figures");
    if (embedded) draw(JSON.parse(embedded.textContent));
    var main = document.querySelector("[data-live-url]");
    if (!main) return;
    var url = main.getAttribute("data-live-url");
    status("live · " + clock(new Date()), false);
    window.setInterval(function () { refresh(url); }, REFRESH_MS);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(url); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
