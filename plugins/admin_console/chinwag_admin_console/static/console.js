// The console's only script: a button that starts a dialogue in the real widget (dialogue and
// appearance previews). Served from the console, so the pages' CSP (script-src 'self') holds.
// The widget's script loads asynchronously: a click before it has run waits for it (up to
// WAIT_MS) instead of being lost.
(function () {
  "use strict";
  var WAIT_MS = 15000;
  var POLL_MS = 100;

  function loaded() {
    return window.chinwag && typeof window.chinwag.start === "function";
  }
  function start(button) {
    window.chinwag.start(button.getAttribute("data-dialogue"));
    if (typeof window.chinwag.open === "function") window.chinwag.open();
  }
  function startWhenLoaded(button) {
    var label = button.textContent;
    var waited = 0;
    button.disabled = true;
    button.textContent = "Loading the widget…";
    var timer = setInterval(function () {
      waited += POLL_MS;
      if (!loaded() && waited < WAIT_MS) return;
      clearInterval(timer);
      button.disabled = false;
      if (loaded()) {
        button.textContent = label;
        start(button);
      } else {
        button.textContent = "The widget did not load; reload the page and try again";
      }
    }, POLL_MS);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("#start-preview") : null;
    if (!button) return;
    if (loaded()) start(button);
    else startWhenLoaded(button);
  });
})();
