// settings: a Copy button beside a secret just created. Without it (no
// JavaScript, or no clipboard outside a secure context) the secret is
// selected with one click (user-select: all) and copied by hand.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Copy failed: select it and copy by hand";
      });
    });
  });
});
