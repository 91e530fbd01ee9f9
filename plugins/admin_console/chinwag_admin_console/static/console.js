// The console's only script: a button that starts a dialogue in the real widget (dialogue and
// appearance previews). Served from the console, so the pages' CSP (script-src 'self') holds.
(function () {
  "use strict";
  function start(button) {
    var widget = window.chinwag;
    if (!widget || typeof widget.start !== "function") {
      button.textContent = "The widget is still loading; try again";
      return;
    }
    widget.start(button.getAttribute("data-dialogue"));
    if (typeof widget.open === "function") widget.open();
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("#start-preview") : null;
    if (button) start(button);
  });
})();
