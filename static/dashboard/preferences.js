/* "Use this browser's zone": picks the browser's IANA zone in the select (the server stores it). */
(function () {
  "use strict";
  var button = document.getElementById("use-browser-zone");
  var select = document.getElementById("id_time_zone");
  var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!button || !select || !zone) return;
  var option = Array.prototype.find.call(select.options, function (o) { return o.value === zone; });
  if (!option) return;
  button.textContent = "Use this browser's zone (" + zone + ")";
  button.hidden = false;
  button.addEventListener("click", function () { select.value = zone; });
})();
