/* RuleAtlas: the browse list (facets, sorting, paging, ATT&CK matrix) and search as you type.
 *
 * Works over the build's indexes (data/rules.js, data/search.js; see web/browse_index.py), so the static
 * site needs no server. Served by `ruleatlas serve`, data/mode.js says {api: true} and search asks
 * /api/search (SQLite FTS5) instead. The facet rules are those of ruleatlas/store/browse.py, the search
 * syntax that of ruleatlas/store/search.py. Text from the catalog only ever becomes text nodes.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var ROOT = script ? script.src.replace(/static\/atlas\.js(?:[?#].*)?$/, "") : "";
  var INDEX = window.RuleAtlasIndex || null;
  var MODE = window.RuleAtlasMode || { api: false };
  var FACETS = ["vendor", "product", "logsource", "status", "level", "tactic", "technique", "kind"];
  var FACET_TITLES = {
    vendor: "Vendor", product: "Product", logsource: "Log source", status: "Status", level: "Level",
    tactic: "Tactic", technique: "Technique", kind: "Kind"
  };
  // Left out unless asked for: store/browse.py's RETIRED (no longer maintained, or not a detection), which the
  // browse and search indexes carry; the search index fills it on pages without the browse index.
  var RETIRED = {};
  function setRetired(values) { (values || []).forEach(function (v) { RETIRED[v] = true; }); }
  if (INDEX) setRetired(INDEX.retired);
  var LEVEL_RANK = { critical: 0, high: 1, medium: 2, low: 3, informational: 4 };
  var NONE = "(none)";
  var PER_PAGE = 50;
  var SHOWN_VALUES = 8;

  // -- small helpers ---------------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") node.textContent = v;
        else if (k === "className") node.className = v;
        else node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // Python's urllib.parse.quote(segment, safe=""): what ruleatlas.web.urls uses for rule paths.
  function quote(s) {
    return encodeURIComponent(s).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    });
  }

  function ruleHref(uid) {
    var slash = uid.indexOf("/");
    return ROOT + "rules/" + quote(uid.slice(0, slash)) + "/" + quote(uid.slice(slash + 1)) + "/" +
      (INDEX ? INDEX.index_file : "index.html");
  }

  function fold(text) {
    return String(text).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  }

  function setUrl(params) {
    var query = params.toString();
    try {
      history.replaceState(null, "", location.pathname + (query ? "?" + query : "") + location.hash);
    } catch (e) { /* file:// pages may refuse; the page still works */ }
  }

  function badge(text, kind) {
    if (!text) return null;
    var known = kind === "level" ? LEVEL_RANK.hasOwnProperty(text)
      : ["stable", "test", "experimental", "deprecated", "unsupported"].indexOf(text) >= 0;
    return el("span", { className: "badge badge-sm " + kind + "-" + (known ? text : "other"), text: text });
  }

  // -- the index -------------------------------------------------------------------------------------------

  var ROWS = null;
  var LABELS = {};
  var TACTIC_BY_NAME = {};

  function loadRows() {
    if (ROWS || !INDEX) return ROWS;
    var f = INDEX.facets;
    FACETS.forEach(function (name) {
      LABELS[name] = {};
      f[name].forEach(function (entry) {
        var value = entry[0];
        var label = entry[1];
        if (name === "technique") label = value + (entry[1] ? " " + entry[1] : "");
        LABELS[name][value] = label || NONE;
      });
    });
    f.tactic.forEach(function (t) {
      [t[0], t[1], t[2]].forEach(function (k) { TACTIC_BY_NAME[String(k).toLowerCase().replace(/ /g, "-")] = t[0]; });
    });
    ROWS = INDEX.rules.map(function (r, i) {
      var vendor = f.vendor[r[0]][0];
      var techniques = [], tactics = [], placements = [];
      for (var k = 0; k < r[10].length; k += 2) {
        var tech = f.technique[r[10][k]][0];
        var tactic = r[10][k + 1] >= 0 ? f.tactic[r[10][k + 1]][0] : "";
        placements.push([tech, tactic]);
        if (techniques.indexOf(tech) < 0) techniques.push(tech);
        if (tactic && tactics.indexOf(tactic) < 0) tactics.push(tactic);
      }
      var row = {
        i: i, uid: r[1].indexOf("/") >= 0 ? r[1] : vendor + "/" + r[1], title: r[2],
        vendor: vendor, product: f.product[r[3]][0], logsource: f.logsource[r[4]][0],
        service: r[11] >= 0 && f.service ? f.service[r[11]][0] : "",
        status: f.status[r[5]][0], level: f.level[r[6]][0], kind: f.kind[r[7]][0],
        created: r[8], modified: r[9], technique: techniques, tactic: tactics, placements: placements
      };
      row.retired = !!(RETIRED[row.kind] || RETIRED[row.status]);
      row.techniqueCounted = techniques.slice();
      techniques.forEach(function (t) {
        var parent = t.split(".")[0];
        if (row.techniqueCounted.indexOf(parent) < 0) row.techniqueCounted.push(parent);
        if (!LABELS.technique[parent]) LABELS.technique[parent] = parent;
      });
      return row;
    });
    return ROWS;
  }

  // The values a rule counts under (a sub-technique also under its parent: selecting the parent lists it).
  function valuesOf(row, facet) {
    if (facet === "technique") return row.techniqueCounted;
    var v = row[facet];
    return Array.isArray(v) ? v : [v];
  }

  // -- selection (the rules of ruleatlas/store/browse.py) --------------------------------------------------

  function emptySelection() {
    var sel = { retired: false, sort: "title", page: 1 };
    FACETS.forEach(function (f) { sel[f] = []; });
    return sel;
  }

  function normalValue(facet, value) {
    if (value === NONE) return "";
    if (facet === "technique") return value.toUpperCase();
    if (facet === "tactic") return TACTIC_BY_NAME[value.toLowerCase().replace(/ /g, "-")] || value;
    if (["vendor", "status", "level", "kind"].indexOf(facet) >= 0) return value.toLowerCase();
    return value;
  }

  function selectionFromUrl() {
    var sel = emptySelection();
    var params = new URLSearchParams(location.search);
    FACETS.forEach(function (f) {
      params.getAll(f).forEach(function (item) {
        item.split(",").forEach(function (part) {
          part = part.trim();
          if (!part) return;
          var v = normalValue(f, part);
          if (sel[f].indexOf(v) < 0) sel[f].push(v);
        });
      });
    });
    sel.retired = ["1", "true", "yes"].indexOf((params.get("retired") || "").toLowerCase()) >= 0;
    var sort = params.get("sort");
    if (["title", "level", "modified", "created", "uid"].indexOf(sort) >= 0) sel.sort = sort;
    var page = parseInt(params.get("page") || "1", 10);
    sel.page = isFinite(page) && page > 0 ? page : 1;
    return sel;
  }

  function selectionToParams(sel) {
    var params = new URLSearchParams();
    FACETS.forEach(function (f) {
      sel[f].forEach(function (v) { params.append(f, v === "" ? NONE : v); });
    });
    if (sel.retired) params.set("retired", "1");
    if (sel.sort !== "title") params.set("sort", sel.sort);
    if (sel.page > 1) params.set("page", String(sel.page));
    return params;
  }

  function facetMatch(facet, wanted, row) {
    if (facet === "technique") {
      return row.technique.some(function (t) {
        return wanted.some(function (w) { return t === w || t.indexOf(w + ".") === 0; });
      });
    }
    return valuesOf(row, facet).some(function (v) { return wanted.indexOf(v) >= 0; });
  }

  function showsRetired(sel) {
    return sel.retired || sel.status.concat(sel.kind).some(function (v) { return RETIRED[v]; });
  }

  function accepts(sel, row, skip) {
    for (var k = 0; k < FACETS.length; k++) {
      var f = FACETS[k];
      if (f === skip) continue;
      if (sel[f].length && !facetMatch(f, sel[f], row)) return false;
    }
    return !row.retired || showsRetired(sel);
  }

  function facetCounts(rows, sel) {
    var active = FACETS.filter(function (f) { return sel[f].length; });
    var retiredSelected = {
      status: sel.status.some(function (v) { return RETIRED[v]; }),
      kind: sel.kind.some(function (v) { return RETIRED[v]; })
    };
    var counts = {};
    FACETS.forEach(function (f) { counts[f] = new Map(); });
    rows.forEach(function (row) {
      var failed = [];
      for (var k = 0; k < active.length && failed.length < 2; k++) {
        if (!facetMatch(active[k], sel[active[k]], row)) failed.push(active[k]);
      }
      if (failed.length > 1) return;
      (failed.length ? failed : FACETS).forEach(function (f) {
        var values = valuesOf(row, f);
        if (row.retired && !sel.retired) {
          var others = ["status", "kind"].filter(function (g) { return g !== f && retiredSelected[g]; });
          if (!others.length) {
            if (f === "status" || f === "kind") values = values.filter(function (v) { return RETIRED[v]; });
            else return;
          }
        }
        var seen = {};
        values.forEach(function (v) {
          if (seen[v]) return;
          seen[v] = true;
          counts[f].set(v, (counts[f].get(v) || 0) + 1);
        });
      });
    });
    return counts;
  }

  function sortRows(rows, sort) {
    var out = rows.slice();
    if (sort === "level") {
      out.sort(function (a, b) { return rank(a.level) - rank(b.level) || a.i - b.i; });
    } else if (sort === "modified" || sort === "created") {
      out.sort(function (a, b) {
        var x = sort === "modified" ? (a.modified || a.created) : a.created;
        var y = sort === "modified" ? (b.modified || b.created) : b.created;
        return y - x || a.i - b.i;
      });
    } else if (sort === "uid") {
      out.sort(function (a, b) { return a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0; });
    }
    return out;
  }

  function rank(level) { return LEVEL_RANK.hasOwnProperty(level) ? LEVEL_RANK[level] : 5; }

  // -- the browse page -------------------------------------------------------------------------------------

  function ruleItem(row) {
    var logsource = [row.product, row.logsource].filter(Boolean).join(" · ");
    return el("li", null, [
      el("a", { href: ruleHref(row.uid), text: row.title || row.uid }),
      el("span", { className: "rule-logsource", text: logsource }),
      el("span", { className: "rule-badges" }, [badge(row.level, "level"), badge(row.status, "status")])
    ]);
  }

  function Browse(main) {
    this.main = main;
    this.sel = selectionFromUrl();
    this.expanded = {};
    this.openSubs = {};
    this.rows = loadRows() || [];
    var self = this;
    this.sortSelect = document.getElementById("sort");
    this.retiredBox = document.getElementById("retired");
    this.sortSelect.value = this.sel.sort;
    this.retiredBox.checked = this.sel.retired;
    this.sortSelect.addEventListener("change", function () {
      self.sel.sort = self.sortSelect.value;
      self.sel.page = 1;
      self.render();
    });
    this.retiredBox.addEventListener("change", function () {
      self.sel.retired = self.retiredBox.checked;
      self.sel.page = 1;
      self.render();
    });
    this.render();
  }

  Browse.prototype.toggle = function (facet, value, on) {
    var list = this.sel[facet];
    var at = list.indexOf(value);
    if (on && at < 0) list.push(value);
    if (!on && at >= 0) list.splice(at, 1);
    this.sel.page = 1;
    this.render();
  };

  Browse.prototype.render = function () {
    var sel = this.sel;
    var listed = sortRows(this.rows.filter(function (r) { return accepts(sel, r); }), sel.sort);
    var pages = Math.max(1, Math.ceil(listed.length / PER_PAGE));
    var start = (sel.page - 1) * PER_PAGE;
    this.renderFacets(facetCounts(this.rows, sel));
    this.renderActive();
    var list = document.getElementById("rule-list");
    clear(list);
    listed.slice(start, start + PER_PAGE).forEach(function (row) { list.appendChild(ruleItem(row)); });
    var count = document.getElementById("result-count");
    if (!listed.length) count.textContent = "No rule matches these filters.";
    else if (start >= listed.length) count.textContent = "Page " + sel.page + " is past the end: " + listed.length + " rules.";
    else count.textContent = listed.length + (listed.length === 1 ? " rule" : " rules") +
      (pages > 1 ? " · page " + sel.page + " of " + pages : "");
    count.setAttribute("data-total", String(listed.length));
    this.renderPager(pages);
    this.renderMatrix();
    setUrl(selectionToParams(sel));
  };

  Browse.prototype.renderFacets = function (counts) {
    var self = this;
    var box = document.getElementById("facets");
    var keepFocus = document.activeElement && document.activeElement.getAttribute("data-key");
    clear(box);
    FACETS.forEach(function (facet) {
      var selected = self.sel[facet];
      var entries = Array.from(counts[facet].entries());
      selected.forEach(function (v) { if (!counts[facet].has(v)) entries.push([v, 0]); });
      var order = facet === "status" || facet === "level";
      var position = {};
      INDEX.facets[facet].forEach(function (e, i) { position[e[0]] = i; });
      entries.sort(function (a, b) {
        if (order) return (position[a[0]] || 0) - (position[b[0]] || 0);
        return b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
      });
      if (!entries.length) return;
      var all = self.expanded[facet];
      var shown = all ? entries : entries.filter(function (e, i) {
        return i < SHOWN_VALUES || selected.indexOf(e[0]) >= 0;
      });
      var list = el("ul", { className: "facet-values" });
      shown.forEach(function (e) {
        var value = e[0];
        var id = "f-" + facet + "-" + list.childNodes.length;
        var box = el("input", {
          type: "checkbox", id: id, value: value, "data-facet": facet, "data-key": facet + "\u001f" + value,
          checked: selected.indexOf(value) >= 0
        });
        box.addEventListener("change", function () { self.toggle(facet, value, box.checked); });
        var label = (LABELS[facet] && LABELS[facet][value]) || value || NONE;
        list.appendChild(el("li", { className: e[1] ? null : "facet-zero" }, [
          box, el("label", { "for": id }, [el("span", { className: "facet-label", text: label }),
            el("span", { className: "count", text: String(e[1]) })])
        ]));
        if (keepFocus === facet + "\u001f" + value) setTimeout(function () { box.focus(); }, 0);
      });
      var group = el("fieldset", { className: "facet", "data-facet": facet }, [
        el("legend", { text: FACET_TITLES[facet] }), list
      ]);
      if (entries.length > shown.length || all) {
        var more = el("button", {
          type: "button", className: "link-button",
          text: all ? "Show fewer" : "Show all " + entries.length
        });
        more.addEventListener("click", function () { self.expanded[facet] = !all; self.render(); });
        group.appendChild(more);
      }
      box.appendChild(group);
    });
  };

  Browse.prototype.renderActive = function () {
    var self = this;
    var box = document.getElementById("active-filters");
    clear(box);
    var any = false;
    FACETS.forEach(function (facet) {
      self.sel[facet].forEach(function (value) {
        any = true;
        var label = (LABELS[facet] && LABELS[facet][value]) || value || NONE;
        var chip = el("button", {
          type: "button", className: "chip chip-remove", "aria-label": "Remove filter " + FACET_TITLES[facet] + " " + label
        }, [FACET_TITLES[facet] + ": " + label + " ×"]);
        chip.addEventListener("click", function () { self.toggle(facet, value, false); });
        box.appendChild(chip);
      });
    });
    if (any) {
      var reset = el("button", { type: "button", className: "link-button", text: "Clear all" });
      reset.addEventListener("click", function () {
        var keep = { sort: self.sel.sort, retired: self.sel.retired };
        self.sel = emptySelection();
        self.sel.sort = keep.sort;
        self.sel.retired = keep.retired;
        self.render();
      });
      box.appendChild(reset);
    }
  };

  Browse.prototype.renderPager = function (pages) {
    var self = this;
    var nav = document.getElementById("pager");
    clear(nav);
    if (pages <= 1 && self.sel.page <= 1) return;
    function button(label, page, current) {
      var b = el("button", {
        type: "button", className: "page-button" + (current ? " current" : ""), text: label,
        "aria-current": current ? "page" : null, disabled: page < 1 || page > pages || current
      });
      b.addEventListener("click", function () { self.sel.page = page; self.render(); window.scrollTo(0, 0); });
      return b;
    }
    nav.appendChild(button("‹ Previous", self.sel.page - 1, false));
    var from = Math.max(1, Math.min(self.sel.page - 2, pages - 4));
    for (var p = from; p <= Math.min(pages, from + 4); p++) nav.appendChild(button(String(p), p, p === self.sel.page));
    nav.appendChild(button("Next ›", self.sel.page + 1, false));
  };

  Browse.prototype.renderMatrix = function () {
    var grid = document.getElementById("matrix-grid");
    var card = document.getElementById("matrix");
    if (!grid || !INDEX.matrix.length) {
      if (card) card.hidden = true;
      return;
    }
    if (card && !card.open) {  // drawn when opened: a few hundred cells per change otherwise
      if (!this.matrixWatch) {
        var self0 = this;
        this.matrixWatch = true;
        card.addEventListener("toggle", function () { if (card.open) self0.renderMatrix(); });
      }
      return;
    }
    var self = this;
    var sel = this.sel;
    var f = INDEX.facets;
    var counts = new Map();
    var base = withoutAttack(sel); // the matrix shows the list without its technique and tactic filters
    this.rows.forEach(function (row) {
      if (!accepts(base, row)) return;
      var seen = {};
      row.placements.forEach(function (p) {
        if (!p[1]) return;
        var parent = p[0].split(".")[0];
        [p[1] + "|" + parent, p[0] !== parent ? p[1] + "|" + p[0] : null, p[1]].forEach(function (key) {
          if (!key || seen[key]) return;
          seen[key] = true;
          counts.set(key, (counts.get(key) || 0) + 1);
        });
      });
    });
    clear(grid);
    INDEX.matrix.forEach(function (column) {
      var tactic = f.tactic[column[0]];
      var cells = el("ul", { className: "matrix-cells" });
      column[1].forEach(function (cell) {
        var parent = f.technique[cell[0]];
        cells.appendChild(self.matrixCell(tactic[0], parent, counts.get(tactic[0] + "|" + parent[0]) || 0,
          cell[1].map(function (s) { return f.technique[s]; }), counts));
      });
      grid.appendChild(el("section", { className: "matrix-column", "data-tactic": tactic[0] }, [
        el("h3", { className: "matrix-tactic" }, [tactic[1], " ", el("span", { className: "count", text: String(counts.get(tactic[0]) || 0) })]),
        cells
      ]));
    });
  };

  function withoutAttack(sel) {
    var copy = {};
    Object.keys(sel).forEach(function (k) { copy[k] = sel[k]; });
    copy.technique = [];
    copy.tactic = [];
    return copy;
  }

  Browse.prototype.matrixCell = function (tacticId, tech, n, subs, counts) {
    var self = this;
    var selected = self.sel.tactic.indexOf(tacticId) >= 0 && self.sel.technique.indexOf(tech[0]) >= 0;
    function cellButton(t, count, isSelected) {
      var b = el("button", {
        type: "button", className: "matrix-cell" + (count ? " covered tier-" + tier(count) : " empty") + (isSelected ? " selected" : ""),
        "data-technique": t[0], "data-tactic": tacticId, "aria-pressed": isSelected ? "true" : "false",
        disabled: !count, title: t[0] + " " + t[1] + ": " + count + (count === 1 ? " rule" : " rules")
      }, [el("span", { className: "tid", text: t[0] }), " ", el("span", { className: "tname", text: t[1] }),
        el("span", { className: "count", text: String(count) })]);
      b.addEventListener("click", function () {
        self.sel.technique = [t[0]];
        self.sel.tactic = [tacticId];
        self.sel.page = 1;
        self.render();
        var list = document.getElementById("result-count");
        if (list && list.scrollIntoView) list.scrollIntoView({ block: "start" });
      });
      return b;
    }
    var item = el("li", { className: "matrix-item" }, [cellButton(tech, n, selected)]);
    if (subs.length) {
      var key = tacticId + "|" + tech[0];
      var open = !!self.openSubs[key];
      var toggle = el("button", {
        type: "button", className: "subs-toggle", "aria-expanded": open ? "true" : "false",
        "aria-label": (open ? "Hide " : "Show ") + subs.length + " sub-techniques of " + tech[0],
        text: (open ? "− " : "+ ") + subs.length + " sub"
      });
      toggle.addEventListener("click", function () { self.openSubs[key] = !open; self.renderMatrix(); });
      item.appendChild(toggle);
      if (open) {
        var list = el("ul", { className: "matrix-subs" });
        subs.forEach(function (s) {
          var isSelected = self.sel.tactic.indexOf(tacticId) >= 0 && self.sel.technique.indexOf(s[0]) >= 0;
          list.appendChild(el("li", null, [cellButton(s, counts.get(tacticId + "|" + s[0]) || 0, isSelected)]));
        });
        item.appendChild(list);
      }
    }
    return item;
  };

  function tier(n) { return n >= 30 ? 4 : n >= 10 ? 3 : n >= 3 ? 2 : 1; }

  // -- search ----------------------------------------------------------------------------------------------

  var WORD = /[\p{L}\p{N}_]/u;
  var TOKEN = /([\p{L}\p{N}_]+):"([^"]*)"?|([\p{L}\p{N}_]+):(\S*)|"([^"]*)"?|(\S+)/gu;
  var FILTERS = ["field", "value", "exclusion", "technique", "tactic", "logsource", "vendor", "level", "status", "kind", "product"];
  var INDICATOR_FILTERS = { field: 1, value: 1, exclusion: 1 };

  function parseQuery(text) {
    var q = { words: [], filters: {}, prefix: !!text && !/\s$/.test(text) && !/"$/.test(text) };
    var m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      var name = (m[1] || m[3] || "").toLowerCase();
      var value = m[1] ? m[2] : m[4];
      if (FILTERS.indexOf(name) >= 0 && value !== undefined) {
        value = value.trim();
        if (value) {
          q.filters[name] = q.filters[name] || [];
          if (q.filters[name].indexOf(value) < 0) q.filters[name].push(value);
        }
        continue;
      }
      var word = (m[1] || m[3]) ? m[0] : (m[5] !== undefined ? m[5] : m[6]);
      if (word && WORD.test(word)) q.words.push(word);
    }
    return q;
  }

  function tokens(word) {
    return fold(word).split(/[^\p{L}\p{N}_]+/u).filter(Boolean);
  }

  var TEXTS = null;

  function loadSearchIndex(done) {
    if (TEXTS) { done(); return; }
    var s = document.createElement("script");
    s.src = ROOT + "data/search.js";
    s.onload = function () {
      var data = window.RuleAtlasSearch || { kinds: [], rules: [] };
      setRetired(data.retired);
      var rows = loadRows() || [];
      TEXTS = rows.map(function (row, i) {
        var t = data.rules[i] || ["", "", "", "", [], [], [], ""];
        var indicators = [];
        for (var k = 0; k + 3 < t[6].length; k += 4) {
          indicators.push({ field: t[4][t[6][k]], kind: data.kinds[t[6][k + 1]], value: t[5][t[6][k + 2]],
            exclusion: t[6][k + 3] === 1 });
        }
        return {
          description: t[0],
          ruleId: String(t[7] || "").toLowerCase(),
          indicators: indicators,
          parts: [fold(row.title), fold(t[1]), fold(t[4].join(" ") + " " + t[5].join(" ")), fold(t[0]), fold(t[2] + " " + t[3])]
        };
      });
      done();
    };
    s.onerror = function () { status("The search index could not be loaded."); };
    document.head.appendChild(s);
  }

  var PART_WEIGHTS = [10, 4, 3, 2, 1];

  // The query's indicator filters as conditions on one indicator each, as the server's
  // indicator_conditions(): `field:X value:Y` is one indicator with both; `exclusion:` asks for exclusions.
  function indicatorConditions(filters) {
    function lower(v) { return v.toLowerCase(); }
    var fields = (filters.field || []).map(lower), values = (filters.value || []).map(lower);
    var excluded = (filters.exclusion || []).map(lower);
    var out = [];
    if (values.length || (fields.length && !excluded.length)) out.push({ exclusion: false, fields: fields, values: values });
    if (excluded.length) out.push({ exclusion: true, fields: fields, values: excluded });
    return out;
  }

  function meets(ind, c) {
    if (ind.exclusion !== c.exclusion) return false;
    if (c.fields.length && c.fields.indexOf(ind.field.toLowerCase()) < 0) return false;
    var value = ind.value.toLowerCase();
    return !c.values.length || c.values.some(function (v) { return value.indexOf(v) >= 0; });
  }

  // A rule named by the whole query: its uid, file stem or rule id (the server's Catalog.identify()).
  function namedBy(text, row, t) {
    var key = text.trim();
    if (!key || /\s/.test(key)) return "";
    if (row.uid === key) return "uid";
    if (t.ruleId && t.ruleId === key.toLowerCase()) return "rule id";
    return row.uid.slice(row.uid.indexOf("/") + 1) === key ? "file stem" : "";
  }

  function localSearch(text, retired, page, perPage) {
    var q = parseQuery(text);
    var rows = loadRows() || [];
    var groups = q.words.map(tokens).filter(function (g) { return g.length; });
    if (!groups.length && !Object.keys(q.filters).length) return { total: 0, results: [], words: [] };
    var asksRetired = (q.filters.status || []).concat(q.filters.kind || []).some(function (v) { return RETIRED[v.toLowerCase()]; });
    var conditions = indicatorConditions(q.filters);
    var named = [];
    if (!Object.keys(q.filters).length && q.words.length === 1) {
      rows.forEach(function (row, i) {
        var how = namedBy(text, row, TEXTS[i]);
        if (how) named.push({ row: row, description: TEXTS[i].description, namedBy: how, matched: [] });
      });
    }
    var found = [];
    rows.forEach(function (row, i) {
      if (row.retired && !(retired || asksRetired)) return;
      if (named.some(function (n) { return n.row === row; })) return;
      var t = TEXTS[i];
      for (var name in q.filters) {
        if (!INDICATOR_FILTERS[name] && !localFilter(name, q.filters[name], row, t)) return;
      }
      if (!conditions.every(function (c) { return t.indicators.some(function (ind) { return meets(ind, c); }); })) return;
      var score = 0;
      for (var g = 0; g < groups.length; g++) {
        for (var k = 0; k < groups[g].length; k++) {
          var token = groups[g][k];
          var hit = 0;
          for (var p = 0; p < t.parts.length; p++) if (t.parts[p].indexOf(token) >= 0) hit += PART_WEIGHTS[p];
          if (!hit) return;
          score += hit;
        }
      }
      found.push([score, i]);
    });
    found.sort(function (a, b) { return b[0] - a[0] || a[1] - b[1]; });
    var words = [].concat.apply([], groups);
    var all = named.concat(found.map(function (f) {
      var t = TEXTS[f[1]];
      var matched = t.indicators.filter(function (ind) {
        return conditions.some(function (c) { return meets(ind, c); });
      }).slice(0, 3);
      return { row: rows[f[1]], description: t.description, namedBy: "", matched: matched };
    }));
    return { total: all.length, results: all.slice((page - 1) * perPage, page * perPage), words: words };
  }

  function localFilter(name, values, row, t) {
    return values.some(function (raw) {
      var v = raw.toLowerCase();
      switch (name) {
        case "technique":
          v = v.toUpperCase();
          return row.technique.some(function (x) { return x === v || x.indexOf(v + ".") === 0; });
        case "tactic": return row.tactic.indexOf(TACTIC_BY_NAME[v.replace(/ /g, "-")] || raw) >= 0;
        case "logsource":
          return row.logsource.toLowerCase() === v || row.product.toLowerCase() === v ||
            row.service.toLowerCase() === v;
        default: return String(row[name] || "").toLowerCase() === v;
      }
    });
  }

  // Text with every occurrence of `words` (folded) wrapped in <mark>, as DOM nodes.
  function marked(text, words) {
    var frag = document.createDocumentFragment();
    var folded = fold(text);
    if (folded.length !== text.length || !words.length) { frag.appendChild(document.createTextNode(text)); return frag; }
    var spans = [];
    words.forEach(function (w) {
      var at = folded.indexOf(w);
      while (at >= 0) { spans.push([at, at + w.length]); at = folded.indexOf(w, at + w.length); }
    });
    spans.sort(function (a, b) { return a[0] - b[0]; });
    var pos = 0;
    spans.forEach(function (s) {
      if (s[0] < pos) return;
      frag.appendChild(document.createTextNode(text.slice(pos, s[0])));
      frag.appendChild(el("mark", { text: text.slice(s[0], s[1]) }));
      pos = s[1];
    });
    frag.appendChild(document.createTextNode(text.slice(pos)));
    return frag;
  }

  function snippet(text, words) {
    if (!text) return "";
    var folded = fold(text);
    var at = -1;
    words.forEach(function (w) { var i = folded.indexOf(w); if (i >= 0 && (at < 0 || i < at)) at = i; });
    if (at < 0 || text.length <= 200) return text.length > 200 ? text.slice(0, 200) + "…" : text;
    var start = Math.max(0, at - 60);
    return (start ? "…" : "") + text.slice(start, start + 200) + (start + 200 < text.length ? "…" : "");
  }

  // Server HTML (escaped text with <mark>) to DOM nodes, keeping only text and <mark>.
  function fromMarkedHtml(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var frag = document.createDocumentFragment();
    tpl.content.childNodes.forEach(function (n) {
      if (n.nodeType === 3) frag.appendChild(document.createTextNode(n.textContent));
      else if (n.nodeName === "MARK") frag.appendChild(el("mark", { text: n.textContent }));
      else frag.appendChild(document.createTextNode(n.textContent || ""));
    });
    return frag;
  }

  function status(text) {
    var node = document.getElementById("search-status");
    if (node) node.textContent = text;
  }

  function Search(main) {
    var self = this;
    this.input = document.getElementById("q");
    this.retired = document.getElementById("retired");
    this.results = document.getElementById("results");
    this.seq = 0;
    this.timer = null;
    this.page = 1;
    var params = new URLSearchParams(location.search);
    this.input.value = params.get("q") || "";
    this.retired.checked = ["1", "true"].indexOf(params.get("retired") || "") >= 0;
    var p = parseInt(params.get("page") || "1", 10);
    this.page = isFinite(p) && p > 0 ? p : 1;
    this.input.addEventListener("input", function () { self.page = 1; self.schedule(); });
    this.retired.addEventListener("change", function () { self.page = 1; self.run(); });
    document.getElementById("search-form").addEventListener("submit", function (e) { e.preventDefault(); self.run(); });
    if (!MODE.api) {
      status("Loading the search index…");
      loadSearchIndex(function () { self.run(); });
    } else {
      this.run();
    }
    this.input.focus();
  }

  Search.prototype.schedule = function () {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.run(); }, MODE.api ? 120 : 60);
  };

  Search.prototype.run = function () {
    var self = this;
    var text = this.input.value;
    var seq = ++this.seq;
    var params = new URLSearchParams();
    if (text) params.set("q", text);
    if (this.retired.checked) params.set("retired", "1");
    if (this.page > 1) params.set("page", String(this.page));
    setUrl(params);
    if (!text.trim()) { clear(this.results); status("Type to search."); this.pager(0); return; }
    if (MODE.api) {
      var query = new URLSearchParams({ q: text, page: String(this.page), per_page: "20" });
      if (this.retired.checked) query.set("retired", "true");
      fetch(ROOT + "api/search?" + query.toString()).then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      }).then(function (answer) {
        if (seq !== self.seq) return;
        if (!answer.ok) { clear(self.results); status(answer.body.error ? answer.body.error.message : "Search failed."); return; }
        self.show(answer.body.total, answer.body.results.map(function (r) {
          return { uid: r.uid, titleNode: fromMarkedHtml(r.title_html), snippetNode: r.snippet_html ? fromMarkedHtml(r.snippet_html) : null,
            level: r.level, status: r.status, vendor: r.vendor, logsource: [r.product, r.logsource].filter(Boolean).join(" · "),
            namedBy: r.named_by || "", matched: r.matched || [] };
        }));
      }).catch(function () { if (seq === self.seq) status("The search service did not answer."); });
    } else {
      if (!TEXTS) return;
      var found = localSearch(text, this.retired.checked, this.page, 20);
      this.show(found.total, found.results.map(function (r) {
        var text = snippet(r.description, found.words);
        return { uid: r.row.uid, titleNode: marked(r.row.title || r.row.uid, found.words),
          snippetNode: text ? marked(text, found.words) : null, level: r.row.level, status: r.row.status,
          vendor: r.row.vendor, logsource: [r.row.product, r.row.logsource].filter(Boolean).join(" · "),
          namedBy: r.namedBy, matched: r.matched };
      }));
    }
  };

  Search.prototype.show = function (total, items) {
    var list = this.results;
    clear(list);
    items.forEach(function (item) {
      var li = el("li", { className: "result" }, [
        el("a", { className: "result-title", href: ruleHref(item.uid) }, [item.titleNode]),
        el("div", { className: "result-meta" }, [badge(item.level, "level"), badge(item.status, "status"),
          el("span", { className: "rule-logsource", text: item.logsource })])
      ]);
      if (item.namedBy) li.appendChild(el("p", { className: "result-why", text: "Its " + item.namedBy + ": " + item.uid }));
      if (item.matched && item.matched.length) {
        var why = el("p", { className: "result-why" }, [el("span", { className: "muted", text: "Matched " })]);
        item.matched.forEach(function (m, k) {
          if (k) why.appendChild(document.createTextNode(" · "));
          if (m.exclusion) why.appendChild(el("span", { className: "muted", text: "excluded " }));
          why.appendChild(el("code", { className: "field", text: m.field || "keyword" }));
          why.appendChild(document.createTextNode(" "));
          why.appendChild(el("span", { className: "kind", text: m.kind }));
          why.appendChild(document.createTextNode(" "));
          why.appendChild(el("code", { className: "value", text: m.value }));
        });
        li.appendChild(why);
      }
      if (item.snippetNode) li.appendChild(el("p", { className: "snippet" }, [item.snippetNode]));
      list.appendChild(li);
    });
    var pages = Math.max(1, Math.ceil(total / 20));
    status(total ? total + (total === 1 ? " rule matches" : " rules match") + (pages > 1 ? " · page " + this.page + " of " + pages : "")
      : "No rule matches.");
    document.getElementById("search-status").setAttribute("data-total", String(total));
    this.pager(pages);
  };

  Search.prototype.pager = function (pages) {
    var self = this;
    var nav = document.getElementById("pager");
    clear(nav);
    if (pages <= 1) return;
    [["‹ Previous", this.page - 1], ["Next ›", this.page + 1]].forEach(function (b) {
      var button = el("button", { type: "button", className: "page-button", text: b[0], disabled: b[1] < 1 || b[1] > pages });
      button.addEventListener("click", function () { self.page = b[1]; self.run(); window.scrollTo(0, 0); });
      nav.appendChild(button);
    });
  };

  // -- start -----------------------------------------------------------------------------------------------

  function start() {
    var main = document.querySelector("main[data-page]");
    if (!main) return;
    if (!INDEX) {
      var note = document.getElementById("result-count") || document.getElementById("search-status");
      if (note) note.textContent = "The catalog index (data/rules.js) could not be loaded.";
      return;
    }
    if (main.getAttribute("data-page") === "browse") new Browse(main);
    else if (main.getAttribute("data-page") === "search") new Search(main);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
