/* The rule page's backtest card: while a run is queued or running, ask its status every
 * POLL_MS and swap in the card's body (progress bar and stage); once it is done, draw its
 * chart. A file, not an inline script: the Content-Security-Policy allows only our own
 * scripts. Widths go through CSSOM (data-width), as in live.js, since style attributes
 * are refused too.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function widths(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) {
      var value = parseFloat(el.getAttribute("data-width"));
      if (isFinite(value)) el.style.width = Math.max(0, Math.min(100, value)) + "%";
    });
  }

  function draw(figure) {
    var el = document.getElementById("chart-backtest");
    if (!el || !figure) return;
    if (!window.Plotly) { window.setTimeout(function () { draw(figure); }, 200); return; }  // still loading (defer)
    window.Plotly.react(el, figure.data, figure.layout, PLOT_CONFIG);
  }

  function poll(box, url) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected) throw new Error("session expired: reload to log in");
        if (!response.ok) throw new Error("backtest status failed (" + response.status + ")");
        return response.json();
      })
      .then(function (status) {
        box.innerHTML = status.html;
        box.setAttribute("data-backtest-active", status.active ? "1" : "0");
        widths(box);
        if (status.active) { window.setTimeout(function () { poll(box, url); }, POLL_MS); return; }
        var button = document.querySelector("[data-testid=backtest-button]");
        if (button) button.disabled = false;
        draw(status.figure);
      })
      .catch(function (error) {
        box.insertAdjacentHTML("beforeend", "<p class=\"msg msg-error\"></p>");
        box.lastElementChild.textContent = error.message;
      });
  }

  function start() {
    var box = document.getElementById("backtest-run");
    if (!box || box.getAttribute("data-backtest-active") !== "1") return;
    poll(box, box.getAttribute("data-backtest-url"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
