// codecheck's web page. It uses only the public API (the routes in
// /openapi.json), the same a curl user has.
//
// Rules this file keeps:
// - Data from the API (addresses, model output, URLs) goes into the page as
//   text only (textContent, createTextNode), never parsed as HTML. Links get an
//   href only when it parses as http(s).
// - The API key lives in sessionStorage and travels only in the
//   Authorization header, never in a URL. That is why the event stream is
//   read with fetch() rather than EventSource (which cannot send headers):
//   the SSE messages are parsed here, and a dropped stream is resumed with
//   the Last-Event-ID header.
(function () {
  "use strict";

  var KEY_STORAGE = "codecheck.apiKey";
  var JOB_STATUS = { pending: "queued", processing: "running", completed: "completed", failed: "failed", canceled: "canceled" };
  var SECTION_STATUS = { pending: "queued", running: "running", completed: "done", failed: "failed", canceled: "canceled", skipped: "skipped" };
  var TERMINAL = { completed: true, failed: true, canceled: true };
  var FALLBACK_PROVIDERS = ["perplexity", "openai", "gemini", "fake"];
  var FALLBACK_SCOPES = ["new", "addition", "alteration", "adu", "tenant_improvement", "change_of_use"];

  var $ = function (id) { return document.getElementById(id); };

  var state = {
    key: readKey(),
    job: null,          // the job shown (JobView)
    sections: [],       // its section states, in report order
    lastEventID: 0,     // the last SSE id seen for that job
    stream: null,       // AbortController of the open event stream
    reconnects: 0,
    jobsCursor: "",
    pending: null       // what to redo once a key is entered
  };

  // ---- DOM helpers: text only ----

  // el builds an element; string children become text nodes.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var v = attrs[name];
        if (v === null || v === undefined || v === false) return;
        if (name === "text") node.textContent = String(v);
        else node.setAttribute(name, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function setText(id, text) { $(id).textContent = text === undefined || text === null ? "" : String(text); }

  // safeHref returns an absolute http(s) URL, or null for anything else
  // (javascript:, data:, junk).
  function safeHref(raw) {
    if (typeof raw !== "string" || raw === "") return null;
    try {
      var u = new URL(raw);
      return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
    } catch (e) { return null; }
  }

  function externalLink(url, text) {
    var href = safeHref(url);
    if (!href) return el("span", null, text || url || "");
    return el("a", { href: href, target: "_blank", rel: "noopener noreferrer" }, text || url);
  }

  function anchorID(prefix, key, n) {
    return prefix + "-" + String(key).replace(/[^a-zA-Z0-9_-]/g, "_") + (n === undefined ? "" : "-" + n);
  }

  // ---- errors and the key ----

  function showAlert(message) {
    var box = $("alert");
    box.textContent = message;
    box.hidden = !message;
  }

  function problemMessage(status, p) {
    if (!p || typeof p !== "object") return "Request failed (HTTP " + status + ").";
    var msg = p.detail || p.title || "Request failed";
    if (Array.isArray(p.errors) && p.errors.length) {
      msg += ": " + p.errors.map(function (e) {
        return (e.location ? e.location + ": " : "") + (e.message || "");
      }).join("; ");
    }
    return msg + " (HTTP " + status + ")";
  }

  function APIError(status, problem) {
    this.status = status;
    this.problem = problem;
    this.message = problemMessage(status, problem);
  }

  function readKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch (e) { return ""; }
  }

  function saveKey(key) {
    state.key = key;
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage off: the key lasts until the page is left */ }
    setText("key-state", key ? "A key is set for this tab." : "No key is set.");
  }

  function showAuth(reason) {
    var box = $("auth");
    box.hidden = false;
    $("key-button").setAttribute("aria-expanded", "true");
    if (reason) setText("auth-why", reason);
    $("api-key").focus();
  }

  // ---- the API ----

  function headers(accept, json) {
    var h = { Accept: accept || "application/json" };
    if (state.key) h.Authorization = "Bearer " + state.key;
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  function api(method, path, body, accept) {
    return fetch(path, {
      method: method, headers: headers(accept, body !== undefined), cache: "no-store",
      credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (res) {
      if (res.ok) return res;
      return res.json().catch(function () { return null; }).then(function (p) {
        if (res.status === 401) {
          showAuth(state.key ? "The API key was refused. Enter a valid key." :
            "This server needs an API key. It is kept in this tab's session storage and sent only in the Authorization header.");
        }
        throw new APIError(res.status, p);
      });
    });
  }

  function apiJSON(method, path, body) {
    return api(method, path, body).then(function (res) { return res.json(); });
  }

  function jobPath(id, rest) { return "/jobs/" + encodeURIComponent(id) + (rest || ""); }

  // ---- choices from the spec ----

  function loadChoices() {
    fetch("/openapi.json", { cache: "no-store" }).then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(function (spec) {
        var schemas = (spec && spec.components && spec.components.schemas) || {};
        fillOptions($("provider"), enumOf(schemas.SubmitJobBody, "llm_provider") || FALLBACK_PROVIDERS);
        fillOptions($("p-scope"), enumOf(schemas.ProjectBody, "scope") || FALLBACK_SCOPES);
        // Options are offered when this server's API takes them.
        var submitProps = (schemas.SubmitJobBody && schemas.SubmitJobBody.properties) || {};
        var any = false;
        Array.prototype.forEach.call(document.querySelectorAll("#options [data-field]"), function (row) {
          row.hidden = !submitProps[row.getAttribute("data-field")];
          any = any || !row.hidden;
        });
        $("options").hidden = !any;
      });
  }

  function enumOf(schema, prop) {
    var p = schema && schema.properties && schema.properties[prop];
    return p && Array.isArray(p.enum) && p.enum.length ? p.enum : null;
  }

  function fillOptions(select, values) {
    values.forEach(function (v) { select.appendChild(el("option", { value: v }, v)); });
  }

  // ---- routing: /?job=ID shows a job, / the form and the list ----

  // route shows what the URL names. After a history step (popstate) that
  // names the job already shown, it does nothing: that was a jump to an
  // anchor within the report (a source number), not another page.
  function route(ev) {
    var id = new URLSearchParams(location.search).get("job");
    if (ev && id && state.job && state.job.id === id && !$("job-view").hidden) return;
    showAlert("");
    if (id) openJob(id); else openHome();
  }

  function go(url) {
    history.pushState(null, "", url);
    route(null);
  }

  function openHome() {
    stopStream();
    state.job = null;
    $("job-view").hidden = true;
    $("home-view").hidden = false;
    document.title = "codecheck";
    loadJobs(false);
  }

  // ---- recent jobs ----

  function loadJobs(more) {
    var q = new URLSearchParams({ limit: "20" });
    var status = $("jobs-status").value;
    if (status) q.set("status", status);
    if (more && state.jobsCursor) q.set("cursor", state.jobsCursor);
    state.pending = function () { loadJobs(more); };
    var table = $("jobs-table");
    table.setAttribute("aria-busy", "true");
    return apiJSON("GET", "/jobs?" + q.toString()).then(function (page) {
      state.pending = null;
      var body = $("jobs-body");
      if (!more) clear(body);
      (page.jobs || []).forEach(function (j) { body.appendChild(jobRow(j)); });
      state.jobsCursor = page.next_cursor || "";
      $("jobs-more").hidden = !state.jobsCursor;
      $("jobs-empty").hidden = body.children.length > 0;
    }).catch(report).then(function () { table.removeAttribute("aria-busy"); });
  }

  function jobRow(j) {
    var link = el("a", { href: "?job=" + encodeURIComponent(j.id), "data-job-id": j.id }, j.address);
    link.addEventListener("click", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      go("?job=" + encodeURIComponent(j.id));
    });
    return el("tr", { "data-job-id": j.id },
      el("td", { "data-label": "Address" }, link),
      el("td", { "data-label": "Status" }, statusBadge(j.status, JOB_STATUS)),
      el("td", { "data-label": "Progress" }, j.progress),
      el("td", { "data-label": "Provider" }, j.llm_provider),
      el("td", { "data-label": "Submitted" }, el("time", { datetime: j.created_at }, formatTime(j.created_at))));
  }

  function statusBadge(status, labels) {
    return el("span", { "class": "badge", "data-status": status }, labels[status] || status);
  }

  function formatTime(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleString();
  }

  // ---- submit ----

  function submit(ev) {
    ev.preventDefault();
    var form = $("submit-form");
    if (!form.reportValidity()) return;
    var body = { address: $("address").value.trim() };
    if ($("provider").value) body.llm_provider = $("provider").value;
    var project = readProject();
    if (project) body.project = project;
    if (offered("max_cost_usd") && $("o-cost").value) body.max_cost_usd = Number($("o-cost").value);
    if (offered("reuse") && $("o-fresh").checked) body.reuse = false;
    if (offered("verify") && $("o-verify").checked) body.verify = true;
    var button = $("submit-button");
    button.disabled = true;
    showAlert("");
    state.pending = function () { form.requestSubmit(); };
    apiJSON("POST", "/jobs", body).then(function (job) {
      state.pending = null;
      var provider = $("provider").value;
      form.reset(); // a new check starts blank, with the same provider
      $("provider").value = provider;
      history.pushState(null, "", "?job=" + encodeURIComponent(job.id));
      showJob(job, true);
    }).catch(report).then(function () { button.disabled = false; });
  }

  function offered(field) {
    var row = document.querySelector('#options [data-field="' + field + '"]');
    return !!row && !row.hidden;
  }

  function readProject() {
    var p = {};
    var use = $("p-use").value.trim();
    var scope = $("p-scope").value;
    var stories = $("p-stories").value;
    var area = $("p-area").value;
    var description = $("p-description").value.replace(/[\r\n]+/g, " ").trim();
    if (use) p.use = use;
    if (scope) p.scope = scope;
    if (stories) p.stories = Number(stories);
    if (area) p.floor_area_sqft = Number(area);
    if (description) p.description = description;
    return Object.keys(p).length ? p : null;
  }

  // ---- one job ----

  function openJob(id) {
    stopStream();
    state.pending = function () { openJob(id); };
    apiJSON("GET", jobPath(id)).then(function (job) {
      state.pending = null;
      showJob(job, false);
    }).catch(function (err) {
      openHome();
      report(err);
    });
  }

  // showJob renders job and follows it until it ends.
  function showJob(job, focus) {
    stopStream();
    state.lastEventID = 0;
    state.reconnects = 0;
    $("home-view").hidden = true;
    $("job-view").hidden = false;
    $("report").hidden = true;
    clear($("report-body"));
    renderJob(job);
    renderSections();
    if (focus) $("job-address").focus();
    if (TERMINAL[job.status]) loadReport(); else startStream();
  }

  function renderJob(job) {
    state.job = job;
    state.sections = (job.sections || []).map(function (s) {
      return { key: s.key, title: s.title, status: s.status, error: s.error };
    });
    setText("job-address", job.address);
    document.title = job.address + " · codecheck";
    setText("job-id", job.id);
    setText("job-provider", job.llm_provider);
    setText("job-attempt", job.attempt);
    renderUsage(job.usage);
    renderProject(job.project);
    $("job-cap-row").hidden = typeof job.max_cost_usd !== "number";
    setText("job-cap", typeof job.max_cost_usd === "number" ?
      "$" + job.max_cost_usd + (job.cost_capped ? " (reached: sections skipped; retry runs them)" : "") : "");
    updateJobStatus(job.status, job.progress, job.error);
  }

  function renderUsage(u) {
    u = u || {};
    setText("job-tokens", formatTokens(u));
    setText("job-cost", formatCost(u.cost_usd));
  }

  function formatTokens(u) {
    return (u.input_tokens || 0).toLocaleString() + " in · " + (u.output_tokens || 0).toLocaleString() + " out" +
      (u.search_calls ? " · " + u.search_calls + " searches" : "");
  }

  function formatCost(c) {
    return typeof c === "number" ? "$" + c.toFixed(4) : "not reported";
  }

  function renderProject(p) {
    var box = $("job-project");
    clear(box);
    if (!p) return;
    var parts = [];
    if (p.use) parts.push("use: " + p.use);
    if (p.scope) parts.push("scope: " + p.scope);
    if (p.stories) parts.push("stories: " + p.stories);
    if (p.floor_area_sqft) parts.push("floor area: " + p.floor_area_sqft + " sq ft");
    if (p.description) parts.push("description: " + p.description);
    append(box, "Project: " + parts.join(" · "));
  }

  function updateJobStatus(status, progress, error) {
    var job = state.job;
    job.status = status;
    if (progress) job.progress = progress;
    var badge = $("job-status");
    badge.textContent = JOB_STATUS[status] || status;
    badge.setAttribute("data-status", status);
    setText("job-progress-text", job.progress);
    var parts = String(job.progress || "0/0").split("/");
    var bar = $("job-progress");
    bar.max = Number(parts[1]) || state.sections.length || 13;
    bar.value = Number(parts[0]) || 0;
    var err = $("job-error");
    if (error !== undefined) job.error = error;
    err.textContent = job.error ? "Error: " + job.error : "";
    err.hidden = !job.error;
    $("cancel-button").hidden = !(status === "pending" || status === "processing");
    $("retry-button").hidden = !(status === "failed" || status === "canceled");
    $("partial-button").hidden = !!TERMINAL[status];
    announce();
  }

  function announce() {
    var job = state.job;
    var counts = {};
    state.sections.forEach(function (s) { counts[s.status] = (counts[s.status] || 0) + 1; });
    var text = "Job " + (JOB_STATUS[job.status] || job.status) + ". " + (counts.completed || 0) + " of " +
      state.sections.length + " sections done";
    if (counts.running) text += ", " + counts.running + " running";
    if (counts.failed) text += ", " + counts.failed + " failed";
    if (counts.canceled) text += ", " + counts.canceled + " canceled";
    setText("job-progress-label", text + ".");
  }

  function renderSections() {
    var list = $("sections");
    clear(list);
    state.sections.forEach(function (s) { list.appendChild(sectionItem(s)); });
  }

  function sectionItem(s) {
    return el("li", { "data-key": s.key, "data-status": s.status, id: anchorID("state", s.key) },
      el("span", { "class": "section-title" }, s.title || s.key),
      " ",
      statusBadge(s.status, SECTION_STATUS),
      s.error ? el("span", { "class": "error section-error" }, s.error) : null);
  }

  function updateSection(key, status, error) {
    var s = state.sections.filter(function (x) { return x.key === key; })[0];
    if (!s) {
      s = { key: key, title: key };
      state.sections.push(s);
    }
    s.status = status;
    s.error = error || "";
    var old = document.getElementById(anchorID("state", key));
    var item = sectionItem(s);
    if (old) old.replaceWith(item); else $("sections").appendChild(item);
  }

  // ---- the event stream (fetch + a small SSE parser) ----

  function stopStream() {
    if (state.stream) state.stream.abort();
    state.stream = null;
  }

  function startStream() {
    stopStream();
    var job = state.job;
    var ctrl = new AbortController();
    state.stream = ctrl;
    var h = headers("text/event-stream");
    if (state.lastEventID) h["Last-Event-ID"] = String(state.lastEventID);
    setText("stream-state", state.reconnects ? "Reconnecting to the live updates…" : "Connecting to live updates…");
    fetch(jobPath(job.id, "/events"), { headers: h, cache: "no-store", signal: ctrl.signal, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) {
          return res.json().catch(function () { return null; }).then(function (p) {
            if (res.status === 401) showAuth("This server needs an API key to follow the job.");
            throw new APIError(res.status, p);
          });
        }
        state.reconnects = 0;
        // 204: the job ended at or before our Last-Event-ID; nothing more comes.
        if (res.status === 204 || !res.body) return;
        setText("stream-state", "Live.");
        return readStream(res.body, ctrl, onMessage);
      })
      .then(function () {
        if (ctrl.signal.aborted) return;
        streamEnded(job.id);
      })
      .catch(function (err) {
        if (ctrl.signal.aborted) return;
        if (err instanceof APIError && err.status < 500) {
          state.stream = null;
          setText("stream-state", "");
          report(err);
          return;
        }
        reconnectLater(job.id);
      });
  }

  // readStream parses text/event-stream from body and calls onMessage with
  // {id, event, data} for each message.
  function readStream(body, ctrl, onMessage) {
    var reader = body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var msg = { id: "", event: "", data: [] };
    function line(text) {
      if (text === "") {
        if (msg.data.length || msg.event) onMessage({ id: msg.id, event: msg.event || "message", data: msg.data.join("\n") });
        msg = { id: "", event: "", data: [] };
        return;
      }
      if (text.charAt(0) === ":") return; // comment (keep-alive)
      var i = text.indexOf(":");
      var field = i < 0 ? text : text.slice(0, i);
      var value = i < 0 ? "" : text.slice(i + 1).replace(/^ /, "");
      if (field === "data") msg.data.push(value);
      else if (field === "event") msg.event = value;
      else if (field === "id") msg.id = value;
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.done || ctrl.signal.aborted) return;
        buffer += decoder.decode(r.value, { stream: true });
        var lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop();
        lines.forEach(line);
        return pump();
      });
    }
    return pump();
  }

  function onMessage(m) {
    var id = parseInt(m.id, 10);
    if (!isNaN(id)) state.lastEventID = id;
    var data;
    try { data = JSON.parse(m.data); } catch (e) { return; }
    if (!state.job || data.job_id !== state.job.id) return;
    if (m.event === "section") {
      updateSection(data.key, data.status, data.error);
      updateJobStatus(state.job.status, data.progress);
    } else if (m.event === "job") {
      if (data.attempt) setText("job-attempt", data.attempt);
      updateJobStatus(data.status, data.progress, data.error || "");
    }
  }

  // streamEnded: the server ends the stream after the job's terminal
  // event, or when it shuts down. Read the job to tell which.
  function streamEnded(id) {
    state.stream = null;
    apiJSON("GET", jobPath(id)).then(function (job) {
      if (!state.job || state.job.id !== id) return;
      if (TERMINAL[job.status]) {
        setText("stream-state", "");
        renderJob(job);
        renderSections();
        loadReport();
      } else {
        reconnectLater(id);
      }
    }).catch(function () { reconnectLater(id); });
  }

  // reconnectLater resumes the stream after a back-off (1s, 2s, 4s, up to
  // 15s), from the last event seen.
  function reconnectLater(id) {
    state.stream = null;
    state.reconnects++;
    var delay = Math.min(15000, 1000 * Math.pow(2, state.reconnects - 1));
    setText("stream-state", "Connection lost; reconnecting in " + Math.round(delay / 1000) + " s…");
    window.setTimeout(function () {
      if (state.job && state.job.id === id && !state.stream) startStream();
    }, delay);
  }

  // ---- actions ----

  function cancelJob() {
    var id = state.job.id;
    $("cancel-button").disabled = true;
    apiJSON("POST", jobPath(id, "/cancel")).then(function (job) {
      if (state.job && state.job.id === id) {
        stopStream();
        renderJob(job);
        renderSections();
        loadReport();
        // The cancel button is gone; keep the keyboard user near it.
        ($("retry-button").hidden ? $("job-address") : $("retry-button")).focus();
      }
    }).catch(report).then(function () { $("cancel-button").disabled = false; });
  }

  function retryJob() {
    var id = state.job.id;
    $("retry-button").disabled = true;
    apiJSON("POST", jobPath(id, "/retry")).then(function (job) {
      if (state.job && state.job.id === id) {
        var last = state.lastEventID;
        renderJob(job);
        renderSections();
        $("report").hidden = true;
        state.lastEventID = last;
        startStream();
        ($("cancel-button").hidden ? $("job-address") : $("cancel-button")).focus();
      }
    }).catch(report).then(function () { $("retry-button").disabled = false; });
  }

  function downloadMarkdown() {
    var id = state.job.id;
    api("GET", jobPath(id, "/report"), undefined, "text/markdown").then(function (res) {
      return res.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el("a", { href: url, download: "codecheck-" + id + ".md", hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 0);
    }).catch(report);
  }

  // ---- the report ----

  function loadReport() {
    var id = state.job.id;
    apiJSON("GET", jobPath(id, "/report")).then(function (r) {
      if (!state.job || state.job.id !== id) return;
      renderReport(r);
    }).catch(report);
  }

  function renderReport(r) {
    var body = $("report-body");
    clear(body);
    var summary = r.summary || {};
    if (summary.simulated) {
      body.appendChild(el("p", { "class": "banner", role: "note" },
        "Simulated: " + ((summary.simulated_sections || []).length || "some") +
        " sections come from the fake provider. This is not real research."));
    }
    if (r.researched_at) body.appendChild(el("p", { "class": "hint" }, "Researched " + formatTime(r.researched_at)));
    var titles = {};
    (r.sections || []).forEach(function (s) { titles[s.key] = s.title || s.key; });

    body.appendChild(el("h3", null, "Key facts"));
    body.appendChild(keyFacts(summary.key_facts || [], titles));
    body.appendChild(el("h3", null, "Red flags"));
    body.appendChild(redFlags(summary.red_flags || [], titles));
    body.appendChild(el("h3", null, "Offices to contact"));
    body.appendChild(offices(summary.offices || [], titles));
    body.appendChild(el("h3", null, "Usage"));
    var u = r.usage || {};
    body.appendChild(el("p", { id: "report-usage" }, "Tokens: " + formatTokens(u) + ". Cost: " + formatCost(u.cost_usd) + "."));
    body.appendChild(el("h3", null, "Sections"));
    (r.sections || []).forEach(function (s) { body.appendChild(sectionReport(s)); });
    $("report").hidden = false;
    renderUsage(u);
  }

  function sourceRefs(section, ids) {
    if (!ids || !ids.length) return null;
    var refs = [" "];
    ids.forEach(function (n, i) {
      if (i) refs.push(" ");
      refs.push(el("a", { href: "#" + anchorID("src", section, n), "class": "ref",
        "aria-label": "source " + n + " of " + section }, "[" + n + "]"));
    });
    return refs;
  }

  function keyFacts(facts, titles) {
    if (!facts.length) return el("p", { "class": "hint" }, "None.");
    var dl = el("dl", { "class": "facts" });
    facts.forEach(function (f) {
      dl.appendChild(el("div", { "data-found": f.found ? "true" : "false" },
        el("dt", null, f.label || f.key),
        el("dd", null, el("span", { "class": f.found ? "" : "muted" }, f.value),
          f.section ? el("span", { "class": "hint" }, " (" + (titles[f.section] || f.section) + ")") : null,
          sourceRefs(f.section, f.source_ids))));
    });
    return dl;
  }

  function redFlags(flags, titles) {
    if (!flags.length) return el("p", { "class": "hint" }, "None.");
    return el("ul", { "class": "flags" }, flags.map(function (f) {
      return el("li", { "data-kind": f.kind },
        el("strong", null, (titles[f.section] || f.section) + ": "), f.message,
        el("span", { "class": "hint" }, " (" + String(f.kind).replace(/_/g, " ") + ")"));
    }));
  }

  function offices(list, titles) {
    if (!list.length) return el("p", { "class": "hint" }, "None named.");
    return el("ul", { "class": "offices" }, list.map(function (o) {
      return el("li", null,
        el("strong", null, o.name), o.role ? " (" + o.role + ")" : "",
        o.phone ? [" · ", el("span", null, o.phone)] : null,
        o.url ? [" · ", externalLink(o.url)] : null,
        (o.sections || []).length ? el("span", { "class": "hint" }, " · named by " +
          o.sections.map(function (k) { return titles[k] || k; }).join(", ")) : null);
    }));
  }

  function sectionReport(s) {
    var art = el("article", { "class": "section", id: anchorID("sec", s.key), "data-key": s.key, "data-status": s.status },
      el("h4", null, (s.ordinal ? s.ordinal + ". " : "") + (s.title || s.key), " ", statusBadge(s.status, SECTION_STATUS)));
    if (s.error) art.appendChild(el("p", { "class": "error" }, "Error: " + s.error));
    if (s.reused_from) {
      art.appendChild(el("p", { "class": "hint reused" }, "Reused from ",
        el("a", { href: "?job=" + encodeURIComponent(s.reused_from) }, "job " + s.reused_from),
        s.last_verified ? ", last verified " + formatTime(s.last_verified) : "", "."));
    }
    if (s.verified_at) art.appendChild(el("p", { "class": "hint" }, "Findings verified against their sources " + formatTime(s.verified_at) + "."));
    if (s.verification_error) art.appendChild(el("p", { "class": "error" }, "Verification failed: " + s.verification_error));
    if (s.summary) art.appendChild(el("p", { "class": "summary" }, s.summary));
    var meta = el("dl", { "class": "meta small" });
    function row(label, value) { if (value !== "" && value !== null && value !== undefined) meta.appendChild(el("div", null, el("dt", null, label), el("dd", null, value))); }
    row("Outcome", s.outcome ? String(s.outcome).replace(/_/g, " ") : "");
    row("Confidence", s.confidence ? s.confidence + (s.confidence_reason ? " (" + s.confidence_reason + ")" : "") : "");
    row("Verify", s.needs_verification ? "needs verification" + (s.verify_with ? " with " + s.verify_with : "") :
      (s.verify_with ? "verify with " + s.verify_with : ""));
    row("Grounded", s.status === "completed" ? (s.grounded ? "yes, web sources" : "no") : "");
    row("Model", s.provider ? s.provider + (s.model ? " / " + s.model : "") : "");
    if (s.usage && (s.usage.input_tokens || s.usage.output_tokens)) {
      row("Tokens", formatTokens(s.usage));
      row("Cost", formatCost(s.usage.cost_usd));
    }
    if (meta.children.length) art.appendChild(meta);
    if (s.jurisdiction) art.appendChild(jurisdiction(s.jurisdiction));
    if ((s.findings || []).length) {
      art.appendChild(el("h5", null, "Findings"));
      art.appendChild(el("ul", { "class": "findings" }, s.findings.map(function (f) { return finding(s.key, f); })));
    }
    if ((s.sources || []).length) {
      art.appendChild(el("h5", null, "Sources"));
      art.appendChild(el("ol", { "class": "sources" }, s.sources.map(function (src) { return source(s.key, src); })));
    }
    return art;
  }

  function jurisdiction(j) {
    var parts = [];
    ["city", "county", "state", "apn", "zoning_district"].forEach(function (k) {
      if (j[k]) parts.push(k.replace(/_/g, " ") + ": " + j[k]);
    });
    if (Array.isArray(j.official_domains) && j.official_domains.length) parts.push("official domains: " + j.official_domains.join(", "));
    if (!parts.length && !j.code_host_url) return null;
    return el("p", { "class": "jurisdiction" }, parts.join(" · "),
      j.code_host_url ? [" · code: ", externalLink(j.code_host_url)] : null);
  }

  function finding(section, f) {
    var extra = [];
    if (f.code_reference) extra.push(f.code_reference);
    if (f.code_edition) extra.push(f.code_edition);
    if (f.effective_date) extra.push("effective " + f.effective_date);
    return el("li", { "data-supported": f.supported ? "true" : "false" },
      el("strong", null, f.label), ": ", f.value,
      extra.length ? el("span", { "class": "hint" }, " (" + extra.join(", ") + ")") : null,
      sourceRefs(section, f.source_ids),
      f.quote ? el("blockquote", null, "“" + f.quote + "”") : null,
      f.supported ? null : el("span", { "class": "badge warn" }, "not supported by a cited source"),
      f.verdict ? verdict(section, f) : null);
  }

  // verdict shows what verification found for a finding.
  function verdict(section, f) {
    var detail = [];
    if (f.verdict_note) detail.push(f.verdict_note);
    if (f.verdict_quote) detail.push("“" + f.verdict_quote + "”");
    return [" ", el("span", { "class": "badge", "data-verdict": f.verdict }, f.verdict),
      detail.length || f.verdict_source_id ? el("span", { "class": "verdict-note" }, detail.join(" "),
        f.verdict_source_id ? sourceRefs(section, [f.verdict_source_id]) : null) : null];
  }

  function source(section, src) {
    var dates = [];
    if (src.published) dates.push("published " + src.published);
    if (src.last_updated) dates.push("updated " + src.last_updated);
    return el("li", { id: anchorID("src", section, src.id), value: src.id, "data-official": src.official ? "true" : "false" },
      externalLink(src.url, src.title || src.url),
      src.official ? [" ", el("span", { "class": "badge official" }, "official")] : null,
      el("div", { "class": "hint url" }, src.url),
      src.snippet ? el("div", { "class": "snippet" }, src.snippet) : null,
      dates.length ? el("div", { "class": "hint" }, dates.join(" · ")) : null);
  }

  // ---- wiring ----

  function report(err) {
    if (err && err.name === "AbortError") return;
    if (err instanceof APIError && err.status === 401) {
      showAlert("An API key is needed: enter it above.");
      return;
    }
    showAlert(err && err.message ? err.message : String(err));
  }

  function init() {
    saveKey(state.key);
    loadChoices();
    $("submit-form").addEventListener("submit", submit);
    $("jobs-refresh").addEventListener("click", function () { loadJobs(false); });
    $("jobs-status").addEventListener("change", function () { loadJobs(false); });
    $("jobs-more").addEventListener("click", function () { loadJobs(true); });
    $("cancel-button").addEventListener("click", cancelJob);
    $("retry-button").addEventListener("click", retryJob);
    $("download-button").addEventListener("click", downloadMarkdown);
    $("partial-button").addEventListener("click", loadReport);
    [$("home-link"), $("nav-new"), $("back-link")].forEach(function (a) {
      a.addEventListener("click", function (ev) {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
        ev.preventDefault();
        go("/");
      });
    });
    $("key-button").addEventListener("click", function () {
      var box = $("auth");
      box.hidden = !box.hidden;
      $("key-button").setAttribute("aria-expanded", String(!box.hidden));
      if (!box.hidden) $("api-key").focus();
    });
    $("auth-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      saveKey($("api-key").value.trim());
      $("api-key").value = "";
      $("auth").hidden = true;
      $("key-button").setAttribute("aria-expanded", "false");
      showAlert("");
      var again = state.pending;
      if (again) again(); else route(null);
    });
    $("forget-key").addEventListener("click", function () {
      saveKey("");
      $("api-key").value = "";
    });
    window.addEventListener("popstate", route);
    route(null);
  }

  init();
})();
