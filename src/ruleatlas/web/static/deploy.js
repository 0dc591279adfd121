/* RuleAtlas: the "Copy" buttons of a rule page's "Deploy as" section. Copies the query text (a text node's
 * content, never HTML) to the clipboard; where the Clipboard API is unavailable (file:// pages in some
 * browsers), selects the text and uses the older copy command. The button says what happened. */
(function () {
  "use strict";

  function say(button, state, label) {
    button.setAttribute("data-state", state);
    button.textContent = label;
    window.setTimeout(function () {
      button.removeAttribute("data-state");
      button.textContent = "Copy";
    }, 2000);
  }

  function fallback(code, button) {
    var range = document.createRange();
    range.selectNodeContents(code);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    say(button, ok ? "copied" : "failed", ok ? "Copied" : "Select and copy");
  }

  function copy(button) {
    var code = document.getElementById(button.getAttribute("data-copy-target"));
    if (!code) return;
    var text = code.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { say(button, "copied", "Copied"); },
        function () { fallback(code, button); }
      );
    } else {
      fallback(code, button);
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".copy-button") : null;
    if (button) copy(button);
  });
})();
