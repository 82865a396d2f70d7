// lookout: the little script every page shares. Pages work without it;
// it only adds what htmx does not (nothing runs inline: see the CSP).
"use strict";
document.addEventListener("htmx:responseError", function (e) {
  // An error answer to an htmx request: show it where the answer was
  // going instead of leaving the page silently unchanged.
  var target = e.detail.target;
  if (target && e.detail.xhr && e.detail.xhr.responseText) {
    target.innerHTML = e.detail.xhr.responseText;
  }
});
