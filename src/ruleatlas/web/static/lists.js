// RuleAtlas long lists (a technique's rules, the coverage gaps): filter as you type, by level where the
// list has levels, and show the first LIMIT items of each list until "Show all" is pressed. Without
// JavaScript every item shows. A form[data-list-filter] names the element holding the lists; lists are
// ul[data-long], items li[data-text] (lower-case text to match) with an optional data-level (and
// data-validated, which a "validated" checkbox keeps), and an
// element [data-group] around a heading and its list is hidden when none of its items shows.
(function () {
  "use strict";
  var LIMIT = 50;

  function setUp(form) {
    var scope = document.getElementById(form.getAttribute("data-list-filter"));
    if (!scope) return;
    var input = form.querySelector("input[type=search]");
    var level = form.querySelector("select[name=level]");
    var validated = form.querySelector("input[name=validated]");
    var count = form.querySelector(".list-count");
    var more = form.querySelector(".list-more");
    var lists = Array.prototype.slice.call(scope.querySelectorAll("ul[data-long]"));
    var noun = form.getAttribute("data-noun") || "items";
    var expanded = false;

    function apply() {
      var q = input.value.trim().toLowerCase();
      var lv = level ? level.value : "";
      var matching = 0, shown = 0, total = 0;
      lists.forEach(function (ul) {
        var n = 0;
        Array.prototype.forEach.call(ul.children, function (li) {
          total++;
          var ok = (!q || (li.getAttribute("data-text") || "").indexOf(q) >= 0) &&
            (!lv || li.getAttribute("data-level") === lv) &&
            (!validated || !validated.checked || li.hasAttribute("data-validated"));
          li.hidden = !ok || (!expanded && n >= LIMIT);
          if (ok) { n++; matching++; }
          if (!li.hidden) shown++;
        });
      });
      Array.prototype.forEach.call(scope.querySelectorAll("[data-group]"), function (group) {
        group.hidden = !group.querySelector("ul[data-long] > li:not([hidden])");
      });
      var filtered = q || lv;
      count.textContent = (filtered ? matching + " of " + total + " " + noun + " match" : total + " " + noun) +
        (shown < matching ? "; " + shown + " shown" : "");
      more.hidden = shown >= matching;
      more.textContent = "Show all " + matching + " " + noun;
    }

    input.addEventListener("input", apply);
    if (level) level.addEventListener("change", apply);
    if (validated) validated.addEventListener("change", apply);
    more.addEventListener("click", function () { expanded = true; apply(); });
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    form.hidden = false;
    apply();
  }

  // A link to a folded section (the gaps page's platform chips) opens it.
  function openTarget() {
    var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") target.open = true;
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-list-filter]"), setUp);
    window.addEventListener("hashchange", openTarget);
    openTarget();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
