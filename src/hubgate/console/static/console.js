// hubgate console: progressive enhancement only. Every page works as plain HTML forms;
// this adds copy buttons, confirmations, the playground stream and the admin API forms.
"use strict";

(function () {
  const main = document.getElementById("main");
  const csrf = main ? main.dataset.csrf : "";

  // The page's language: the server puts this script's sentences, translated, in a JSON block
  // (absent in English). `t("Enter %(num)s or more.", { num: 5 })`, like the server's gettext.
  const catalogue = (() => {
    const block = document.getElementById("hubgate-i18n");
    try { return block ? JSON.parse(block.textContent) : {}; } catch (err) { return {}; }
  })();
  function t(message, values) {
    const text = catalogue[message] || message;
    return text.replace(/%\((\w+)\)s/g, (all, name) => (values && name in values ? String(values[name]) : all));
  }

  // --- copy buttons ---
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      // Nothing to copy yet (the result is still hidden or empty): say nothing was copied.
      if (!source || source.hidden || !source.textContent.trim()) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = t("Copied");
      } catch (err) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = t("Selected: press Ctrl+C");
      }
    });
  });

  // --- tables wider than the screen: say so, and let the keyboard scroll them ---
  // The row actions sit in the last column: on a phone they are off to the right, so a table
  // that scrolls shows a hint above it and a shadow on the side with more.
  function watchTables() {
    document.querySelectorAll(".table-wrap:not([data-watched])").forEach(watchTable);
  }

  function watchTable(wrap) {
    wrap.dataset.watched = "";
    const hint = document.createElement("p");
    hint.className = "scroll-hint";
    hint.dataset.testid = "scroll-hint";
    hint.textContent = t("Swipe the table sideways for more columns and the actions →");
    hint.hidden = true;
    wrap.before(hint);
    const update = () => {
      const more = wrap.scrollWidth - wrap.clientWidth > 1;
      const atEnd = wrap.scrollLeft + wrap.clientWidth >= wrap.scrollWidth - 1;
      hint.hidden = !more;
      wrap.classList.toggle("scrolls", more);
      wrap.classList.toggle("more-right", more && !atEnd);
      wrap.classList.toggle("more-left", more && wrap.scrollLeft > 1);
      if (more) {
        wrap.tabIndex = 0;  // a scrolling region must be reachable by keyboard
        wrap.setAttribute("role", "region");
        // Named after its card's heading too: two such regions on a page must not share one name.
        const heading = wrap.closest("section, .card")?.querySelector("h2, h3");
        const title = heading ? heading.textContent.trim() : "";
        wrap.setAttribute("aria-label", (title ? title + " · " : "") + t("Table, scrolls sideways"));
      } else {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    };
    wrap.addEventListener("scroll", update, { passive: true });
    new ResizeObserver(update).observe(wrap);
    update();
  }
  watchTables();

  // --- the key form's model picker: a filter over the vendors' checkboxes ---
  document.querySelectorAll(".model-picker").forEach((picker) => {
    const filter = picker.querySelector("[data-picker-filter]");
    if (!filter) return;
    filter.closest("label").hidden = false;
    const none = picker.querySelector("[data-picker-none]");
    filter.addEventListener("input", () => {
      const words = filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      picker.querySelectorAll(".picker-vendor").forEach((group) => {
        let inGroup = 0;
        group.querySelectorAll(".picker-choice").forEach((choice) => {
          const match = words.every((w) => choice.dataset.search.includes(w));
          choice.hidden = !match;
          if (match) inGroup += 1;
        });
        group.hidden = inGroup === 0;
        shown += inGroup;
      });
      if (none) none.hidden = shown > 0;
    });
    filter.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault(); // filtering, not sending the form
    });
  });

  // --- confirmations ---
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // --- admin API forms and buttons: JSON to /admin/*, with the session's CSRF token ---
  function value(input) {
    const type = input.dataset.type || "str";
    if (input.type === "checkbox") return input.checked;
    const raw = input.value.trim();
    if (raw === "") return undefined;
    if (type === "int") return parseInt(raw, 10);
    if (type === "number") return Number(raw);
    if (type === "list") return raw.split(/[\s,]+/).filter(Boolean);
    if (type === "json") {
      try { return JSON.parse(raw); } catch (err) {
        const bad = new Error("not valid JSON");
        bad.field = input.name;
        throw bad;
      }
    }
    return raw;
  }

  async function callApi(method, url, body) {
    const response = await fetch(url, {
      method: method,
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await response.json(); } catch (err) { data = null; }
    if (!response.ok) {
      const error = new Error(data && data.error ? data.error.message : "HTTP " + response.status);
      error.param = data && data.error ? data.error.param : null;
      throw error;
    }
    return data;
  }

  // --- errors in people's words, next to the field they are about ---
  // The admin API names the field (`param`) and says what its validator said; the page says
  // what to type instead. Inputs may carry their own advice in data-hint.
  const ADVICE = [
    [/decimal|valid number|finite/i, (input) => /_usd$/.test(input ? input.name : "")
      ? t("Enter an amount in dollars, e.g. 5 or 2.50.") : t("Enter a number, e.g. 5 or 2.50.")],
    [/valid integer/i, () => t("Enter a whole number, e.g. 10.")],
    [/greater than or equal to ([-\d.]+)/i, (input, m) => t("Enter %(num)s or more.", { num: m[1] })],
    [/greater than ([-\d.]+)/i, (input, m) => t("Enter a number above %(num)s.", { num: m[1] })],
    [/less than or equal to ([-\d.]+)/i, (input, m) => t("Enter %(num)s or less.", { num: m[1] })],
    [/less than ([-\d.]+)/i, (input, m) => t("Enter a number below %(num)s.", { num: m[1] })],
    [/at most (\d+) characters?/i, (input, m) => t("Use at most %(num)s characters.", { num: m[1] })],
    [/at least (\d+) characters?/i, (input, m) => t("Use at least %(num)s characters.", { num: m[1] })],
    [/missing required|field required/i, () => t("Fill this in.")],
    [/valid (list|array)/i, () => t("Enter names separated by spaces or commas.")],
    [/valid (dictionary|object)|JSON/i, () => t('Enter a JSON object, e.g. {"name": "value"}.')],
    [/valid boolean/i, () => t("Choose yes or no.")],
  ];

  function advice(input, message) {
    if (input && input.dataset.hint) return input.dataset.hint;
    for (const [pattern, say] of ADVICE) {
      const m = message.match(pattern);
      if (m) return say(input, m);
    }
    // Not one we know: the API's own sentence, without the "invalid field 'x':" preamble.
    return message.replace(/^(invalid|unknown) (field|query parameter) '[^']*':?\s*/i, "")
      .replace(/^Value error,\s*/i, "");
  }

  function clearFieldErrors(form) {
    form.querySelectorAll(".field-error[data-from-api]").forEach((el) => el.remove());
    form.querySelectorAll('[aria-invalid="true"]').forEach((input) => {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
  }

  // Mark `name`'s input with `text`; returns the field's label (or null when the form has no such input).
  function markField(form, name, text) {
    const input = form.querySelector('[name="' + CSS.escape(name) + '"]');
    if (!input || input.type === "hidden") return null;
    const id = (form.dataset.testid || "form") + "-" + name + "-error";
    const note = document.createElement("span");
    note.className = "field-error";
    note.id = id;
    note.dataset.fromApi = "";
    note.textContent = text;
    input.insertAdjacentElement("afterend", note);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.focus();
    const label = input.closest("label");
    return label ? label.firstChild.textContent.trim() : name;
  }

  // The form's error: on its field when the API named one, and summed up in the form's box.
  function showFormError(form, errorBox, err) {
    const field = err.param ? String(err.param).split(/[.[]/)[0] : (err.field || null);
    const input = field ? form.querySelector('[name="' + CSS.escape(field) + '"]') : null;
    const text = advice(input, err.message);
    const label = field ? markField(form, field, text) : null;
    if (errorBox) {
      errorBox.textContent = label ? label + ": " + text : text;
      errorBox.hidden = false;
    }
  }

  function mailed(data) {
    if (data.emailed_to) return "\n" + t("Mailed to %(email)s", { email: data.emailed_to });
    if (data.email_error) return "\n" + t("Not mailed (%(reason)s): pass the link on yourself", { reason: data.email_error });
    return "";
  }

  // Parts of the page that an API call changed, read again from the server and swapped in
  // (e.g. the codes table after a batch, a channel's "last test" cell), without a reload.
  async function refreshParts(selectors) {
    if (!selectors) return;
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    selectors.split(",").forEach((selector) => {
      const now = document.querySelector(selector.trim());
      const next = fresh.querySelector(selector.trim());
      if (now && next) now.replaceWith(document.importNode(next, true));
    });
    watchTables();
  }

  function showResult(target, data) {
    const place = target ? document.querySelector(target) : null;
    if (!place) return false;
    place.hidden = false;
    if (place.id) {
      document.querySelectorAll('[data-copy="' + place.id + '"]').forEach((b) => { b.hidden = false; });
    }
    if (data && Array.isArray(data.codes)) {
      place.textContent = data.codes.join("\n");
    } else if (data && data.latency_ms !== undefined) {
      place.textContent = t(data.ok ? "OK in %(ms)s ms" : "Failed in %(ms)s ms", { ms: data.latency_ms }) +
        (data.error ? ": " + (data.error.message || data.error) : "");
    } else if (data && data.remaining_usd !== undefined) {
      place.textContent = "$" + data.remaining_usd.toFixed(2) + " left of $" + data.limit_usd.toFixed(2) +
        " ($" + data.used_usd.toFixed(2) + " used)";
    } else if (data && data.reset_url) {
      place.textContent = data.reset_url + mailed(data);
    } else if (data && data.invite) {
      place.textContent = data.invite + (data.signup_url ? "\n" + data.signup_url : "") + mailed(data);
    } else {
      place.textContent = JSON.stringify(data, null, 2);
    }
    return true;
  }

  document.querySelectorAll("form[data-api]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const errorBox = form.querySelector(".form-error");
      if (errorBox) { errorBox.hidden = true; errorBox.textContent = ""; }
      clearFieldErrors(form);
      const body = {};
      try {
        form.querySelectorAll("[name]").forEach((input) => {
          if (input.name === "csrf") return;
          const v = value(input);
          if (v !== undefined) body[input.name] = v;
          else if (input.dataset.nullable !== undefined) body[input.name] = null;
        });
        let url = form.dataset.url;
        if (form.dataset.urlField) url += encodeURIComponent(body[form.dataset.urlField]);
        if (form.dataset.urlField && form.dataset.dropUrlField !== undefined) delete body[form.dataset.urlField];
        const data = await callApi(form.dataset.api, url, body);
        if (!showResult(form.dataset.result, data)) window.location.reload();
        else await refreshParts(form.dataset.refresh);
      } catch (err) {
        showFormError(form, errorBox, err);
      }
    });
  });

  document.querySelectorAll("button[data-api]").forEach((button) => {
    button.addEventListener("click", async () => {
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
      const place = button.dataset.result ? document.querySelector(button.dataset.result) : null;
      const errorPlace = place || (button.dataset.error ? document.querySelector(button.dataset.error) : null);
      button.disabled = true;
      try {
        const data = await callApi(button.dataset.api, button.dataset.url, body);
        if (!showResult(button.dataset.result, data)) window.location.reload();
        else await refreshParts(button.dataset.refresh);
      } catch (err) {
        if (errorPlace) { errorPlace.hidden = false; errorPlace.textContent = err.message; }
      } finally {
        button.disabled = false;
      }
    });
  });

  // --- channels: the selected rows, switched on, off, removed or tested in one call ---
  const bulkAll = document.querySelector("[data-bulk-all]");
  const bulkSaid = window.sessionStorage.getItem("bulk-result");
  if (bulkSaid && document.getElementById("bulk-result")) {
    window.sessionStorage.removeItem("bulk-result");
    document.getElementById("bulk-result").textContent = bulkSaid;
    document.getElementById("bulk-result").hidden = false;
  }
  if (bulkAll) {
    bulkAll.addEventListener("change", () => {
      document.querySelectorAll("[data-bulk-select]").forEach((box) => { box.checked = bulkAll.checked; });
    });
  }
  document.querySelectorAll("button[data-bulk]").forEach((button) => {
    button.addEventListener("click", async () => {
      const place = document.getElementById("bulk-result");
      const names = Array.from(document.querySelectorAll("[data-bulk-select]:checked")).map((box) => box.value);
      place.hidden = false;
      if (!names.length) { place.textContent = "Select one or more channels first."; return; }
      if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
      button.disabled = true;
      try {
        const data = await callApi("POST", "/admin/channels/bulk", { action: button.dataset.bulk, names: names });
        const failed = data.data.filter((r) => !r.ok);
        const text = (data.data.length - failed.length) + " of " + data.data.length + " done" +
          failed.map((r) => "\n" + r.name + ": " + (r.error || (r.result && r.result.error) || "failed")).join("");
        window.sessionStorage.setItem("bulk-result", text);  // shown again after the reload
        window.location.reload();
      } catch (err) {
        place.textContent = err.message;
      } finally {
        button.disabled = false;
      }
    });
  });

  // --- playground: one streamed chat completion per send ---
  const pg = document.getElementById("playground");
  if (pg) {
    const keySelect = document.getElementById("pg-key");
    const modelSelect = document.getElementById("pg-model");
    const log = document.getElementById("pg-log");
    const input = document.getElementById("pg-input");
    const system = document.getElementById("pg-system");
    const send = document.getElementById("pg-send");
    let history = [];

    const note = document.getElementById("pg-note");
    // The key's chat models, the server's pick first (a healthy channel, the most used);
    // a key with none says why instead of showing an empty list.
    function fillModels() {
      const option = keySelect.selectedOptions[0];
      const models = option && option.dataset.models ? option.dataset.models.split(",") : [];
      modelSelect.replaceChildren(...models.map((m) => new Option(m, m)));
      if (option && option.dataset.default) modelSelect.value = option.dataset.default;
      const why = option ? option.dataset.note : "";
      note.textContent = why || "";
      note.hidden = !why;
      modelSelect.disabled = models.length === 0;
      send.disabled = models.length === 0;
    }
    keySelect.addEventListener("change", fillModels);
    fillModels();

    function bubble(role, text) {
      const div = document.createElement("div");
      div.className = "msg " + role;
      div.dataset.role = role;
      div.textContent = text;
      log.appendChild(div);
      log.scrollTop = log.scrollHeight;
      return div;
    }

    document.getElementById("pg-clear").addEventListener("click", () => {
      history = [];
      log.replaceChildren();
    });

    document.getElementById("pg-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      history.push({ role: "user", content: text });
      bubble("user", text);
      const answer = bubble("assistant", "");
      answer.classList.add("pending");
      send.disabled = true;
      const messages = system.value.trim() ? [{ role: "system", content: system.value.trim() }, ...history] : history;
      try {
        const response = await fetch("/ui/playground/chat", {
          method: "POST",
          headers: { "content-type": "application/json", "x-csrf-token": csrf },
          body: JSON.stringify({
            key_id: parseInt(keySelect.value, 10),
            model: modelSelect.value,
            messages: messages,
            temperature: Number(document.getElementById("pg-temperature").value),
          }),
        });
        if (!response.ok) {
          let message = "HTTP " + response.status;
          try { message = (await response.json()).error.message; } catch (err) { /* not JSON */ }
          throw new Error(message);
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        let full = "";
        for (;;) {
          const { value: chunk, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(chunk, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            for (const line of frame.split("\n")) {
              if (!line.startsWith("data:")) continue;
              const data = line.slice(5).trim();
              if (data === "[DONE]") continue;
              const event = JSON.parse(data);
              if (event.error) throw new Error(event.error.message || "stream error");
              const delta = event.choices && event.choices[0] && event.choices[0].delta;
              if (delta && delta.content) {
                full += delta.content;
                answer.textContent = full;
              }
            }
          }
        }
        history.push({ role: "assistant", content: full });
      } catch (err) {
        answer.classList.add("failed");
        answer.textContent = t("Error: %(message)s", { message: err.message });
        history.pop();
      } finally {
        answer.classList.remove("pending");
        send.disabled = false;
      }
    });
  }
})();
