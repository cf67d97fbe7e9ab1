/* Asks before a button that moves guests (maintenance, repair) submits its form.
 *
 * Forms carry their question in data-confirm; no inline script, so the
 * pages work under a Content-Security-Policy without 'unsafe-inline'.
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
