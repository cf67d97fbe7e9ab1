/* Draws the page's Plotly figures, keeps numbers and charts fresh without a reload,
 * and runs the phone nav's Menu button.
 *
 * The page embeds its figures as JSON (<script type="application/json" id="figures">)
 * and names a live endpoint (<main data-live-url>). Every REFRESH_MS the endpoint is
 * asked for the same page state: re-rendered HTML fragments, swapped in by element
 * id, and figures, redrawn with Plotly.react (which diffs, so zoom and hover
 * survive). Paused while the tab is hidden, so idle tabs cost the server nothing.
 *
 * Each figure carries a one-line text summary: it becomes the chart's aria-label
 * and its visible caption (#<id>-summary). Plotly's toolbar buttons are taken out
 * of the Tab order, so the keyboard goes from chart to chart, not through ~9
 * unlabelled buttons each (the mouse still has them).
 *
 * The clock in the header is the server's, in the user's display zone and the one
 * format (2026-12-01 19:26:05 UTC): never the browser's own zone or locale.
 */
(function () {
  "use strict";

  var REFRESH_MS = 10000;
  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var inFlight = false;

  function untabToolbar(el) {
    Array.prototype.forEach.call(el.querySelectorAll(".modebar-btn, .modebar a, .modebar button"), function (button) {
      button.setAttribute("tabindex", "-1");
    });
  }

  function describe(el, id, figure) {
    if (!figure.summary) return;
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", figure.summary);
    var caption = document.getElementById(id + "-summary");
    if (caption) caption.textContent = figure.summary;
  }

  function draw(figures) {
    if (!figures) return;
    Object.keys(figures).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) return;
      describe(el, id, figures[id]);
      if (!window.Plotly) return;
      window.Plotly.react(el, figures[id].data, figures[id].layout, PLOT_CONFIG).then(function () { untabToolbar(el); });
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
        status("updated " + payload.clock, false);
      })
      .catch(function (error) { status(error.message, true); })
      .then(function () { inFlight = false; });
  }

  function navToggle() {
    var button = document.querySelector(".nav-toggle");
    var nav = document.getElementById("topnav");
    if (!button || !nav) return;
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("open", open);
    });
  }

  function start() {
    navToggle();
    widths(document);
    var embedded = document.getElementById("figures");
    if (embedded) draw(JSON.parse(embedded.textContent));
    var main = document.querySelector("[data-live-url]");
    if (!main) return;
    var url = main.getAttribute("data-live-url");
    var clock = document.getElementById("live-status");
    if (clock) status("live · " + clock.textContent, false);
    window.setInterval(function () { refresh(url); }, REFRESH_MS);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(url); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
