// RuleAtlas ATT&CK matrix: recount every cell when a filter changes. The page embeds each counted rule as
// [vendor, level, status, platform bit mask, [cell numbers]] in #attack-data; cells carry data-c (their
// number) and data-pl (their technique's platforms). Filters are kept in the URL fragment.
(function () {
  "use strict";
  var source = document.getElementById("attack-data");
  var form = document.getElementById("attack-filters");
  if (!source || !form) return;
  var data = JSON.parse(source.textContent);
  var tiers = data.tiers;
  var cells = Array.prototype.slice.call(document.querySelectorAll("[data-c]"));
  var columns = Array.prototype.slice.call(document.querySelectorAll(".tactic-col"));
  var shown = document.getElementById("attack-shown");
  var names = ["vendor", "platform", "level", "status"];

  function tier(n) {
    var t = 0;
    for (var i = 0; i < tiers.length; i++) if (n >= tiers[i]) t = i + 1;
    return t;
  }

  function selected() {
    var out = {};
    names.forEach(function (name) { out[name] = form.elements[name].value; });
    return out;
  }

  function update() {
    var f = selected();
    var counts = new Array(data.cells).fill(0);
    var rules = 0;
    var bit = f.platform === "" ? 0 : Math.pow(2, Number(f.platform));
    data.rules.forEach(function (r) {
      if (f.vendor !== "" && r[0] !== Number(f.vendor)) return;
      if (f.level !== "" && r[1] !== Number(f.level)) return;
      if (f.status !== "" && r[2] !== Number(f.status)) return;
      if (bit && Math.floor(r[3] / bit) % 2 !== 1) return;
      rules++;
      r[4].forEach(function (c) { counts[c]++; });
    });
    cells.forEach(function (cell) {
      var n = counts[Number(cell.dataset.c)];
      var out = cell.querySelector(":scope > .n");
      if (out) out.textContent = String(n);
      cell.className = cell.className.replace(/\bcov-\d\b/, "cov-" + tier(n));
      // "*": the offline data names no platform for the technique; unknown is kept, not hidden
      cell.hidden = f.platform !== "" && cell.dataset.pl !== "*" &&
        cell.dataset.pl.split(" ").indexOf(f.platform) < 0;
    });
    columns.forEach(function (col) {
      var top = col.querySelectorAll(".cells > .cell");
      var covered = 0, total = 0;
      Array.prototype.forEach.call(top, function (cell) {
        if (cell.hidden) return;
        total++;
        if (counts[Number(cell.dataset.c)] > 0) covered++;
      });
      var meta = col.querySelector(".col-meta");
      if (meta) meta.textContent = covered + " of " + total + " covered";
    });
    if (shown) shown.textContent = rules.toLocaleString("en") + " rules";
    var parts = names.filter(function (n) { return f[n] !== ""; }).map(function (n) {
      return n + "=" + encodeURIComponent(form.elements[n].options[form.elements[n].selectedIndex].text);
    });
    var hash = parts.length ? "#" + parts.join("&") : "";
    if (location.hash !== hash && !(hash === "" && location.hash === "")) {
      history.replaceState(null, "", hash || location.pathname + location.search);
    }
  }

  function fromHash() {
    location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
      var kv = pair.split("=");
      var select = form.elements[kv[0]];
      if (names.indexOf(kv[0]) < 0 || !select || kv.length !== 2) return;
      var label = decodeURIComponent(kv[1]);
      Array.prototype.forEach.call(select.options, function (o) { if (o.text === label) select.value = o.value; });
    });
  }

  form.addEventListener("change", update);
  form.addEventListener("reset", function () { setTimeout(update, 0); });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  fromHash();
  update();
})();
