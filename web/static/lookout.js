// lookout: the little script every page shares. Pages work without it;
// it only adds what htmx does not (nothing runs inline: see the CSP).
"use strict";
document.addEventListener("htmx:responseError", function (e) {
  // An error answer to an htmx request: show it where the answer was
  // going instead of leaving the page silently unchanged. lookout's own
  // error pages are HTML it escaped; anything else is shown as text.
  var target = e.detail.target;
  var xhr = e.detail.xhr;
  if (!target || !xhr || !xhr.responseText) {
    return;
  }
  var type = xhr.getResponseHeader("Content-Type") || "";
  if (type.indexOf("text/html") === 0) {
    target.innerHTML = xhr.responseText;
  } else {
    target.textContent = xhr.responseText;
  }
});
