// warroom web shell: the little behaviour htmx attributes cannot express under our CSP
// (which forbids eval, so no `[document.visibilityState == 'visible']` trigger filters).
(function () {
  "use strict";

  // Polling regions (marked data-poll) skip their refresh while the tab is hidden...
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.visibilityState !== "visible" && elt && elt.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });

  // ...and catch up at once when it is shown again.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || !window.htmx) {
      return;
    }
    document.querySelectorAll("[data-poll]").forEach(function (elt) {
      window.htmx.trigger(elt, "wr-refresh");
    });
  });
})();
