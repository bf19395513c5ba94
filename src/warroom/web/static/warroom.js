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

  // A live refresh never replaces a form being edited: an out-of-band part holding the
  // focused control, or a control whose value differs from what the page loaded with,
  // keeps its content (the next refresh after the form is sent or left alone brings it up).
  function editing(root) {
    var active = document.activeElement;
    if (active && active !== document.body && root.contains(active) &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      return true;
    }
    var fields = root.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.type === "submit") { continue; }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) { return true; }
      } else if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) { return true; }
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && editing(target)) {
      event.detail.shouldSwap = false;
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
