/* The admin rule builder (members/admin/rule_builder.py). Plain script, no build step.
 *
 * The model mirrors the JSON tree: a group is {kind: "all" | "any" | "not", children: [...]},
 * a condition is {field, op, value}. A "not" group reads "none of the following": one child is
 * saved as {"not": child}, several as {"not": {"any": [...]}}. Every change re-serialises the
 * model into the textarea (the submitted form field) and, 400 ms later, posts the tree to the
 * admin's evaluate view for the live count, the explanation and errors with node paths.
 * Values from the server are only ever put in the page as text (textContent), never as HTML.
 */
(function () {
  "use strict";

  var DEBOUNCE_MS = 400;
  var INLINE_CHOICES = 8; // up to this many choices are shown in a row, more in a scroll box
  var FILTER_FROM = 20; // a filter box above lists longer than this

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function isGroup(node) {
    return node.kind !== undefined;
  }

  // Operators whose value is a number of days, whatever the field's kind (a date field):
  // members.segments.fields checks them as whole days, 1 to 36500.
  var DAY_OPERATORS = ["within_last_days", "not_within_last_days", "within_next_days"];

  // Which inputs a condition's value needs.
  function shape(field, op) {
    if (op === "is_set" || op === "is_not_set") return "none";
    if (!field) return "json";
    if (DAY_OPERATORS.indexOf(op) >= 0) return "days";
    var kind = field.kind;
    if (op === "between") return kind === "date" ? "date-pair" : "number-pair";
    if (kind === "number") return "number";
    if (kind === "date") return "date";
    if (kind === "tags") return "tags";
    if (kind === "choice") return field.choices ? "choices" : "text-list";
    if (kind === "text") return op === "in" || op === "not_in" ? "text-list" : "text";
    if (kind === "bool") return "bool";
    return "json";
  }

  function defaultValue(field, op) {
    var kind = shape(field, op);
    if (kind === "choices" || kind === "tags" || kind === "text-list") return [];
    if (kind === "days") return 30;
    if (kind === "bool") return true;
    if (kind === "number-pair" || kind === "date-pair") return [null, null];
    return undefined;
  }

  function toNumber(text) {
    var trimmed = String(text).trim();
    if (trimmed === "") return null;
    var number = Number(trimmed);
    return isFinite(number) ? number : trimmed;
  }

  function toDate(text) {
    return text ? text : null;
  }

  function csrfToken(root) {
    var form = root.closest("form");
    var input = (form || document).querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // JSON -> model; throws on anything the builder cannot show (the JSON stays editable).
  function toModel(node) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) {
      throw new Error("not a node");
    }
    var keys = Object.keys(node);
    if (keys.length === 1 && (keys[0] === "all" || keys[0] === "any")) {
      if (!Array.isArray(node[keys[0]])) throw new Error("not a list");
      return { kind: keys[0], children: node[keys[0]].map(toModel) };
    }
    if (keys.length === 1 && keys[0] === "not") {
      var inner = node.not;
      if (inner && typeof inner === "object" && !Array.isArray(inner) &&
          Object.keys(inner).length === 1 && Array.isArray(inner.any)) {
        return { kind: "not", children: inner.any.map(toModel) };
      }
      return { kind: "not", children: [toModel(inner)] };
    }
    var known = keys.every(function (key) {
      return key === "field" || key === "op" || key === "value";
    });
    if (known && typeof node.field === "string" && typeof node.op === "string") {
      return { field: node.field, op: node.op, value: node.value };
    }
    throw new Error("not a node");
  }

  function RuleBuilder(root) {
    var config = JSON.parse(document.getElementById(root.dataset.ruleBuilder).textContent);
    var labels = config.labels;
    var fields = {};
    config.catalogue.forEach(function (field) {
      fields[field.name] = field;
    });
    var optional = root.dataset.optional === "1";
    var textarea = root.querySelector("textarea");
    var details = root.querySelector(".rb-json");
    var treeBox = root.querySelector(".rb-tree");
    var panel = root.querySelector(".rb-panel");
    var countLine = panel.querySelector(".rb-count");
    var explanation = panel.querySelector(".rb-explanation");
    var errorBox = panel.querySelector(".rb-errors");
    var sampleBox = panel.querySelector(".rb-sample");
    var model = null;
    var paths = {};
    var timer = null;
    var inFlight = null;
    var sequence = 0;
    var focusNext = null;
    var lastTree = null; // the model as JSON, what the live count is taken of

    function label(key, values) {
      var text = labels[key] || key;
      Object.keys(values || {}).forEach(function (name) {
        text = text.replace("%(" + name + ")s", values[name]);
      });
      return text;
    }

    function newCondition() {
      var first = config.catalogue[0];
      var op = first.operators[0].op;
      return { field: first.name, op: op, value: defaultValue(first, op) };
    }

    // --- model -> JSON (and node paths as members.segments.tree names them) ---------------

    function serialize(node, path) {
      if (!isGroup(node)) {
        paths[path || "tree"] = node.el;
        var out = { field: node.field, op: node.op };
        if (shape(fields[node.field], node.op) !== "none" && node.value !== undefined) {
          out.value = node.value;
        }
        return out;
      }
      var here = path ? path + "." + node.kind : node.kind;
      paths[path || "tree"] = node.el;
      paths[here] = node.el;
      var result = {};
      if (node.kind !== "not") {
        result[node.kind] = node.children.map(function (child, i) {
          return serialize(child, here + "[" + i + "]");
        });
        return result;
      }
      if (node.children.length === 1) return { not: serialize(node.children[0], here) };
      var inner = here + ".any";
      paths[inner] = node.el;
      return {
        not: {
          any: node.children.map(function (child, i) {
            return serialize(child, inner + "[" + i + "]");
          }),
        },
      };
    }

    function isEmpty() {
      return optional && model.children.length === 0;
    }

    // --- drawing -----------------------------------------------------------------------

    function button(text, className, onClick, title) {
      var node = el("button", { type: "button", className: className, text: text, title: title,
        "aria-label": title });
      node.addEventListener("click", onClick);
      return node;
    }

    function removeFrom(parent, node) {
      return function () {
        parent.children.splice(parent.children.indexOf(node), 1);
        changed(true);
      };
    }

    function drawGroup(group, parent) {
      var box = el("div", { className: "rb-group rb-kind-" + group.kind });
      group.el = box;
      var kind = el("select", { className: "rb-group-kind", "aria-label": labels.operator });
      ["all", "any", "not"].forEach(function (name) {
        kind.appendChild(el("option", { value: name, text: labels[name] }));
      });
      kind.value = group.kind;
      kind.addEventListener("change", function () {
        group.kind = kind.value;
        changed(true);
      });
      var head = el("div", { className: "rb-group-head" }, [kind]);
      if (parent) {
        head.appendChild(button("×", "rb-remove", removeFrom(parent, group), labels.remove_group));
      }
      var list = el("div", { className: "rb-children" });
      if (!group.children.length) {
        list.appendChild(el("p", { className: "rb-empty",
          text: parent || !optional ? labels.empty_group : labels.no_rule }));
      }
      group.children.forEach(function (child) {
        list.appendChild(isGroup(child) ? drawGroup(child, group) : drawCondition(child, group));
      });
      var actions = el("div", { className: "rb-actions" }, [
        button("+ " + labels.add_condition, "button rb-add", function () {
          focusNext = newCondition();
          group.children.push(focusNext);
          changed(true);
        }),
        button("+ " + labels.add_group, "button rb-add", function () {
          focusNext = newCondition();
          group.children.push({ kind: "all", children: [focusNext] });
          changed(true);
        }),
      ]);
      box.appendChild(head);
      box.appendChild(el("p", { className: "rb-node-error" }));
      box.appendChild(list);
      box.appendChild(actions);
      return box;
    }

    function fieldSelect(condition) {
      var select = el("select", { className: "rb-field", "aria-label": labels.field });
      var groups = {};
      config.catalogue.forEach(function (field) {
        if (!groups[field.group]) {
          groups[field.group] = el("optgroup", { label: field.group });
          select.appendChild(groups[field.group]);
        }
        groups[field.group].appendChild(el("option", { value: field.name, text: field.label }));
      });
      if (!fields[condition.field]) {
        select.appendChild(el("option", { value: condition.field,
          text: condition.field + " " + labels.unknown_field }));
      }
      select.value = condition.field;
      select.addEventListener("change", function () {
        var field = fields[select.value];
        condition.field = select.value;
        condition.op = field.operators[0].op;
        condition.value = defaultValue(field, condition.op);
        changed(true);
      });
      return select;
    }

    function opSelect(condition, field) {
      var select = el("select", { className: "rb-op", "aria-label": labels.operator });
      var ops = field ? field.operators : [];
      ops.forEach(function (op) {
        select.appendChild(el("option", { value: op.op, text: op.label }));
      });
      var listed = ops.some(function (op) {
        return op.op === condition.op;
      });
      if (!listed) select.appendChild(el("option", { value: condition.op, text: condition.op }));
      select.value = condition.op;
      select.addEventListener("change", function () {
        var before = shape(field, condition.op);
        condition.op = select.value;
        if (shape(field, condition.op) !== before) {
          condition.value = defaultValue(field, condition.op);
        }
        changed(true);
      });
      return select;
    }

    function input(type, value, onInput, extra) {
      var props = { type: type, className: "rb-input rb-input-" + type, "aria-label": labels.value };
      Object.keys(extra || {}).forEach(function (key) {
        props[key] = extra[key];
      });
      var node = el("input", props);
      node.value = value === null || value === undefined ? "" : String(value);
      node.addEventListener("input", function () {
        onInput(node.value);
        changed(false);
      });
      return node;
    }

    // A list of checkboxes, grouped under headings when options carry a group, with a filter
    // box when long: the multi-select for choices and tags that works on phones too.
    function checklist(options, selected, onChange) {
      var chosen = {};
      (Array.isArray(selected) ? selected : []).forEach(function (value) {
        chosen[String(value)] = true;
      });
      var long = options.length > INLINE_CHOICES;
      var wrap = el("div", { className: long ? "rb-checklist rb-long" : "rb-checklist" });
      var list = el("div", { className: "rb-options" });
      var items = [];
      var sections = [];
      var current = null;
      var target = list;
      options.forEach(function (option) {
        if (option.group && option.group !== current) {
          current = option.group;
          target = el("div", { className: "rb-option-group" },
            [el("div", { className: "rb-option-group-name", text: option.group })]);
          sections.push(target);
          list.appendChild(target);
        }
        var box = el("input", { type: "checkbox", value: String(option.value) });
        box.checked = Boolean(chosen[String(option.value)]);
        var item = el("label", { className: "rb-option" }, [box, " " + (option.name || option.label)]);
        target.appendChild(item);
        items.push({ item: item, box: box, label: option.label,
          text: (option.label + " " + (option.group || "")).toLowerCase() });
      });
      // A long list scrolls, so what is ticked is also written out under it.
      var summary = long ? el("p", { className: "rb-chosen" }) : null;
      function checked() {
        return items.filter(function (entry) {
          return entry.box.checked;
        });
      }
      function summarise() {
        if (summary) {
          summary.textContent = checked().map(function (entry) {
            return entry.label;
          }).join(", ");
        }
      }
      list.addEventListener("change", function () {
        onChange(checked().map(function (entry) {
          return entry.box.value;
        }));
        summarise();
        changed(false);
      });
      if (options.length > FILTER_FROM) {
        var filter = el("input", { type: "search", className: "rb-filter",
          placeholder: labels.filter_tags, "aria-label": labels.filter_tags });
        filter.addEventListener("input", function () {
          var query = filter.value.trim().toLowerCase();
          items.forEach(function (entry) {
            entry.item.hidden = Boolean(query) && !entry.box.checked && entry.text.indexOf(query) < 0;
          });
          sections.forEach(function (section) {
            section.hidden = !section.querySelector(".rb-option:not([hidden])");
          });
        });
        wrap.appendChild(filter);
      }
      wrap.appendChild(list);
      if (summary) {
        summarise();
        wrap.appendChild(summary);
      }
      return wrap;
    }

    function drawValue(condition, field, box) {
      var value = condition.value;
      var pair = Array.isArray(value) ? value : [null, null];
      switch (shape(field, condition.op)) {
        case "none":
          return;
        case "number":
          box.appendChild(input("number", value, function (text) {
            condition.value = toNumber(text);
          }, { step: "any" }));
          return;
        case "days":
          box.appendChild(input("number", value, function (text) {
            condition.value = toNumber(text);
          }, { min: 1, step: 1 }));
          box.appendChild(el("span", { className: "rb-unit", text: labels.days }));
          return;
        case "number-pair":
        case "date-pair": {
          var type = field.kind === "date" ? "date" : "number";
          var convert = type === "date" ? toDate : toNumber;
          var current = [pair[0], pair[1]];
          [0, 1].forEach(function (i) {
            if (i === 1) box.appendChild(el("span", { className: "rb-unit", text: labels.and }));
            box.appendChild(input(type, current[i], function (text) {
              current[i] = convert(text);
              condition.value = [current[0], current[1]];
            }, type === "number" ? { step: "any" } : {}));
          });
          condition.value = current;
          return;
        }
        case "date":
          box.appendChild(input("date", value, function (text) {
            condition.value = toDate(text);
          }));
          return;
        case "choices":
          box.appendChild(checklist(field.choices, value, function (values) {
            condition.value = values;
          }));
          return;
        case "tags":
          box.appendChild(checklist(config.tags, value, function (values) {
            condition.value = values.map(Number);
          }));
          return;
        case "text-list":
          box.appendChild(input("text", Array.isArray(value) ? value.join(", ") : value, function (text) {
            // Commas of either width, and the Chinese enumeration comma, separate values.
            condition.value = text.split(/[,，、]/).map(function (part) {
              return part.trim();
            }).filter(Boolean);
          }, { placeholder: labels.comma_hint, title: labels.comma_hint }));
          return;
        case "text":
          box.appendChild(input("text", value, function (text) {
            condition.value = text;
          }));
          return;
        case "bool": {
          var select = el("select", { className: "rb-input", "aria-label": labels.value });
          select.appendChild(el("option", { value: "true", text: labels.yes }));
          select.appendChild(el("option", { value: "false", text: labels.no }));
          select.value = value === false ? "false" : "true";
          select.addEventListener("change", function () {
            condition.value = select.value === "true";
            changed(false);
          });
          box.appendChild(select);
          return;
        }
        default:
          box.appendChild(input("text", value === undefined ? "" : JSON.stringify(value), function (text) {
            try {
              condition.value = JSON.parse(text);
            } catch (error) {
              condition.value = text;
            }
          }));
      }
    }

    function drawCondition(condition, parent) {
      var field = fields[condition.field];
      var box = el("div", { className: "rb-condition" });
      condition.el = box;
      var valueBox = el("div", { className: "rb-value" });
      drawValue(condition, field, valueBox);
      box.appendChild(el("div", { className: "rb-row" }, [
        fieldSelect(condition),
        opSelect(condition, field),
        valueBox,
        button("×", "rb-remove", removeFrom(parent, condition), labels.remove),
      ]));
      if (field && field.help_text) {
        box.appendChild(el("p", { className: "rb-help", text: field.help_text }));
      }
      box.appendChild(el("p", { className: "rb-node-error" }));
      return box;
    }

    function draw() {
      treeBox.textContent = "";
      treeBox.appendChild(drawGroup(model, null));
      if (focusNext && focusNext.el) {
        var first = focusNext.el.querySelector("select");
        if (first) first.focus();
      }
      focusNext = null;
    }

    // --- sync and live count -------------------------------------------------------------

    function resync() {
      paths = {};
      lastTree = serialize(model, "");
    }

    function changed(redraw) {
      if (redraw) draw();
      resync();
      textarea.value = isEmpty() ? "" : JSON.stringify(lastTree);
      schedule();
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(evaluate, DEBOUNCE_MS);
    }

    function showErrors(errors) {
      root.querySelectorAll(".rb-invalid").forEach(function (node) {
        node.classList.remove("rb-invalid");
      });
      root.querySelectorAll(".rb-node-error").forEach(function (node) {
        node.textContent = "";
      });
      var list = errorBox.querySelector("ul");
      list.textContent = "";
      errorBox.hidden = !errors.length;
      errorBox.querySelector(".rb-errors-title").textContent = labels.errors;
      errors.forEach(function (error) {
        list.appendChild(el("li", { text: error.path + ": " + error.message }));
        var node = paths[error.path.replace(/\.(field|op|value)$/, "")];
        if (!node) return;
        node.classList.add("rb-invalid");
        var slot = node.querySelector(".rb-node-error");
        if (slot) slot.textContent = (slot.textContent ? slot.textContent + " " : "") + error.message;
      });
    }

    function showSample(rows) {
      var body = sampleBox.querySelector("tbody");
      body.textContent = "";
      sampleBox.hidden = !rows.length;
      if (!rows.length) return;
      sampleBox.querySelector(".rb-sample-title").textContent = labels.sample;
      var heads = sampleBox.querySelectorAll("th");
      ["name", "phone", "tier"].forEach(function (key, i) {
        heads[i].textContent = labels[key];
      });
      rows.forEach(function (row) {
        var name = row.url ? el("a", { href: row.url, text: row.name || "#" + row.id })
          : document.createTextNode(row.name || "#" + row.id);
        body.appendChild(el("tr", {}, [
          el("td", {}, [name]),
          el("td", { text: row.phone || "-" }),
          el("td", { text: row.tier || "-" }),
        ]));
      });
    }

    function evaluate() {
      clearTimeout(timer);
      if (inFlight) inFlight.abort();
      panel.hidden = false;
      if (isEmpty()) {
        countLine.textContent = labels.no_rule;
        explanation.textContent = "";
        showErrors([]);
        showSample([]);
        return;
      }
      var mine = ++sequence;
      inFlight = typeof AbortController === "function" ? new AbortController() : null;
      panel.classList.add("rb-busy");
      countLine.textContent = labels.counting;
      fetch(root.dataset.evaluateUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": csrfToken(root),
          "X-Requested-With": "XMLHttpRequest",
        },
        body: JSON.stringify({ tree: lastTree }),
        signal: inFlight ? inFlight.signal : undefined,
      }).then(function (response) {
        return response.json().catch(function () {
          return {};
        }).then(function (data) {
          if (mine !== sequence) return;
          panel.classList.remove("rb-busy");
          if (response.ok) {
            countLine.textContent = label("members", { count: Number(data.count).toLocaleString() });
            explanation.textContent = data.explanation || "";
            showErrors([]);
            showSample(data.sample || []);
          } else if (response.status === 400 && data.errors) {
            countLine.textContent = "";
            explanation.textContent = "";
            showErrors(data.errors);
            showSample([]);
          } else {
            countLine.textContent = label("failed", { status: response.status });
          }
        });
      }).catch(function (error) {
        if (error && error.name === "AbortError") return;
        if (mine !== sequence) return;
        panel.classList.remove("rb-busy");
        countLine.textContent = label("failed", { status: String(error) });
      });
    }

    // --- loading -----------------------------------------------------------------------

    // Read the textarea into the model; false (with the JSON left open) if it cannot be shown.
    function load() {
      var text = textarea.value.trim();
      var data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (error) {
        return fail(labels.bad_json);
      }
      try {
        model = data === null ? { kind: "all", children: [] } : toModel(data);
      } catch (error) {
        return fail(labels.cannot_show);
      }
      if (!isGroup(model)) model = { kind: "all", children: [model] };
      root.classList.remove("rb-unusable");
      treeBox.hidden = false;
      return true;
    }

    function fail(message) {
      root.classList.add("rb-unusable");
      treeBox.textContent = "";
      treeBox.appendChild(el("p", { className: "errornote", text: message }));
      details.open = true;
      panel.hidden = true;
      return false;
    }

    textarea.addEventListener("change", function () {
      // JSON edited by hand: redraw the builder from it.
      if (load()) {
        draw();
        resync();
        evaluate();
      }
    });

    if (!config.catalogue.length) return;
    var initial = textarea.value.trim();
    if (load()) {
      details.open = false;
      draw();
      resync();
      if (!optional && (initial === "" || initial === "null")) {
        // A new segment starts as an empty "all of" group (everyone), so it can be saved.
        textarea.value = JSON.stringify(lastTree);
      }
      evaluate();
    }
  }

  // For tests (tests/members/test_admin_segments.py runs this file under Node).
  window.SCRMRuleBuilder = { shape: shape, defaultValue: defaultValue };

  function start() {
    document.querySelectorAll("[data-rule-builder]").forEach(function (root) {
      if (root.dataset.ruleBuilderReady) return;
      root.dataset.ruleBuilderReady = "1";
      RuleBuilder(root);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
