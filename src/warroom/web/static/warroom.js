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

// The console shows times in the viewer's zone: tell the server which one the browser uses
// (a cookie, read by warroom.web.console.viewer_zone; `?tz=` on a page overrides it).
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("warroom_tz=" + zone) === -1) {
      document.cookie = "warroom_tz=" + zone + "; path=/; SameSite=Strict; max-age=31536000";
    }
  } catch (e) { /* no Intl: the server's default zone it is */ }

  // Copy buttons: <button data-copy="#input-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
