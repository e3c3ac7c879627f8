/* Progressive enhancement for the glossary pages: autocomplete on search inputs and
   dismissable hover cards on term mentions. Every page works without this file. */
(function () {
  "use strict";

  var MIN_CHARS = 2;
  var DELAY_MS = 150;

  function suggestionsOf(body) {
    if (Array.isArray(body)) { return body; }
    if (!body || typeof body !== "object") { return []; }
    return body.suggestions || body.results || body.items || body.hits || [];
  }

  function Autocomplete(input) {
    this.input = input;
    this.mode = input.getAttribute("data-suggest") || "navigate";
    this.target = input.getAttribute("data-suggest-into");
    this.type = input.getAttribute("data-suggest-type") || "";
    this.items = [];
    this.active = -1;
    this.seq = 0;
    this.timer = null;
    this.controller = null;
    this.list = document.createElement("ul");
    this.list.id = input.id + "-suggestions";
    this.list.className = "suggestions";
    this.list.setAttribute("role", "listbox");
    this.list.setAttribute("aria-label", "Suggestions");
    this.list.hidden = true;
    this.status = document.createElement("span");
    this.status.className = "visually-hidden";
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    input.parentNode.insertBefore(this.list, input.nextSibling);
    input.parentNode.insertBefore(this.status, this.list.nextSibling);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", this.list.id);
    var self = this;
    input.addEventListener("input", function () { self.schedule(); });
    input.addEventListener("keydown", function (e) { self.key(e); });
    input.addEventListener("blur", function () {
      window.setTimeout(function () { self.close(); }, 150);
    });
    this.list.addEventListener("mousedown", function (e) { e.preventDefault(); });
    this.list.addEventListener("click", function (e) {
      var li = e.target.closest("li[role=option]");
      if (li) { self.pick(Number(li.getAttribute("data-index"))); }
    });
  }

  Autocomplete.prototype.schedule = function () {
    var self = this;
    window.clearTimeout(this.timer);
    if (this.target) {
      var hidden = document.getElementById(this.target);
      if (hidden) { hidden.value = ""; }
    }
    var q = this.input.value.trim();
    if (q.length < MIN_CHARS) {
      this.seq += 1;  // any answer still on its way is now stale
      this.close();
      return;
    }
    this.timer = window.setTimeout(function () { self.fetch(q); }, DELAY_MS);
  };

  Autocomplete.prototype.fetch = function (q) {
    var self = this;
    var seq = ++this.seq;
    if (this.controller) { this.controller.abort(); }
    this.controller = window.AbortController ? new AbortController() : null;
    var url = "/api/suggest?q=" + encodeURIComponent(q) + "&limit=8";
    if (this.type) { url += "&type=" + encodeURIComponent(this.type); }
    var signal = this.controller ? this.controller.signal : undefined;
    function get(address) {
      return fetch(address, { headers: { "Accept": "application/json" }, signal: signal })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(suggestionsOf);
    }
    function stale() { return seq !== self.seq || self.input.value.trim() !== q; }
    get(url).then(function (items) {
      if (stale() || items.length || q.length < 4) { return items; }
      // No label starts with what was typed: a misspelling? Ask the typo-tolerant search.
      var fuzzy = "/api/search?q=" + encodeURIComponent(q) + "&per_page=6";
      if (self.type) { fuzzy += "&type=" + encodeURIComponent(self.type); }
      return get(fuzzy).then(function (hits) {
        var best = hits.length ? hits[0].score || 0 : 0;
        // Keep the close calls only: a typo finds its term, not everything that shares a word.
        return hits.filter(function (h) { return (h.score || 0) >= best * 0.5; }).map(function (h) {
          return { slug: h.slug, name: h.name, type: h.type, label: h.matched_label || h.name };
        });
      });
    }).then(function (items) {
      // Only the answer to the newest request is shown; older ones are dropped.
      if (stale()) { return; }
      self.show(items);
    }).catch(function () { /* aborted or offline: the plain form still works */ });
  };

  Autocomplete.prototype.show = function (items) {
    this.items = items;
    this.active = -1;
    this.list.textContent = "";
    this.input.removeAttribute("aria-activedescendant");
    if (!items.length) {
      this.status.textContent = "No suggestions.";
      this.close();
      return;
    }
    for (var i = 0; i < items.length; i++) {
      this.list.appendChild(this.option(items[i], i));
    }
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.status.textContent = items.length + (items.length === 1 ? " suggestion." : " suggestions.");
  };

  Autocomplete.prototype.option = function (item, i) {
    var li = document.createElement("li");
    li.id = this.list.id + "-" + i;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.setAttribute("data-index", String(i));
    var label = item.label || item.matched_label || item.text || item.name;
    var name = document.createElement("span");
    name.className = "suggestion-name";
    if (label && item.name && label !== item.name) {
      var alias = document.createElement("span");
      alias.className = "suggestion-alias";
      alias.textContent = label;
      name.appendChild(alias);
      name.appendChild(document.createTextNode(" \u2192 "));
    }
    var strong = document.createElement("strong");
    strong.textContent = item.name || label || "";
    name.appendChild(strong);
    li.appendChild(name);
    if (item.type) {
      var badge = document.createElement("span");
      badge.className = "badge badge-" + String(item.type).replace(/[^a-z]/g, "");
      badge.textContent = item.type;
      li.appendChild(document.createTextNode(" "));
      li.appendChild(badge);
    }
    return li;
  };

  Autocomplete.prototype.close = function () {
    this.list.hidden = true;
    this.active = -1;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
  };

  Autocomplete.prototype.move = function (delta) {
    if (this.list.hidden || !this.items.length) { return; }
    var n = this.items.length;
    // -1 is the input itself; the list wraps around through it.
    this.active += delta;
    if (this.active >= n) { this.active = -1; }
    if (this.active < -1) { this.active = n - 1; }
    var options = this.list.children;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === this.active ? "true" : "false");
    }
    if (this.active >= 0) {
      this.input.setAttribute("aria-activedescendant", options[this.active].id);
      options[this.active].scrollIntoView({ block: "nearest" });
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  };

  Autocomplete.prototype.key = function (e) {
    if (e.key === "ArrowDown") {
      if (this.list.hidden && this.items.length) {
        this.list.hidden = false;
        this.input.setAttribute("aria-expanded", "true");
      }
      this.move(1);
      e.preventDefault();
    } else if (e.key === "ArrowUp") {
      this.move(-1);
      e.preventDefault();
    } else if (e.key === "Enter" && !this.list.hidden && this.active >= 0) {
      e.preventDefault();
      this.pick(this.active);
    } else if (e.key === "Escape" && !this.list.hidden) {
      e.preventDefault();
      this.close();
    }
  };

  Autocomplete.prototype.pick = function (i) {
    var item = this.items[i];
    if (!item) { return; }
    this.close();
    if (this.mode === "fill") {
      this.input.value = item.name || item.label || "";
      var hidden = this.target && document.getElementById(this.target);
      if (hidden) { hidden.value = item.slug || ""; }
      return;
    }
    if (item.slug) {
      window.location.assign("/terms/" + encodeURIComponent(item.slug));
    }
  };

  function initCards() {
    // Escape hides the card under the pointer or focus (WCAG 1.4.13: dismissable).
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") { return; }
      var open = document.querySelectorAll(".mention-wrap:hover, .mention-wrap:focus-within");
      for (var i = 0; i < open.length; i++) { open[i].classList.add("card-dismissed"); }
    });
    function reset(e) {
      var wrap = e.target.closest && e.target.closest(".mention-wrap");
      if (wrap) { wrap.classList.remove("card-dismissed"); }
    }
    document.addEventListener("mouseover", reset);
    document.addEventListener("focusin", reset);
    // Keep cards inside the viewport: flip to the left near the right edge.
    function place(e) {
      var wrap = e.target.closest && e.target.closest(".mention-wrap");
      if (!wrap) { return; }
      var card = wrap.querySelector(".card");
      if (!card) { return; }
      var rect = wrap.getBoundingClientRect();
      card.classList.toggle("card-left", rect.left > window.innerWidth / 2);
    }
    document.addEventListener("mouseover", place);
    document.addEventListener("focusin", place);
  }

  function init() {
    var inputs = document.querySelectorAll("input[data-suggest]");
    for (var i = 0; i < inputs.length; i++) { new Autocomplete(inputs[i]); }
    if (document.querySelector(".mention-wrap")) { initCards(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
