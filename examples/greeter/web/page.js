// The Greeter page's script: greets in place, logs in and out, counts
// visits, and shows which instance served each answer (X-Served-By). It
// writes text only (textContent), never HTML, so nothing a server or a
// user sends can become markup. Loaded with defer: the DOM is ready.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const answers = $("answers");

  // note records one answer in the list and returns the instance that
  // served it.
  function note(method, path, resp, text) {
    const by = resp.headers.get("X-Served-By") || "?";
    const li = document.createElement("li");
    li.dataset.servedBy = by;
    li.dataset.status = String(resp.status);
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = method + " " + path + " → " + resp.status + (text ? " " + text.trim() : "");
    const served = document.createElement("span");
    served.className = "served";
    served.append(" served by ");
    const code = document.createElement("code");
    code.className = "instance";
    code.textContent = by;
    served.append(code);
    li.append(what, served);
    answers.prepend(li);
    $("log").hidden = false;
    return by;
  }

  // call sends one same-origin request; the browser adds the session
  // cookie and Sec-Fetch-Site: same-origin, which the cross-origin
  // protection lets through.
  async function call(method, path, body, headers) {
    const init = { method: method, headers: Object.assign({ "Accept": "application/json" }, headers || {}), credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const text = resp.status === 204 ? "" : await resp.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    const by = note(method, path, resp, text);
    return { resp: resp, json: json, by: by };
  }

  // show writes an answer: the message or error, and who served it.
  function show(el, r, message) {
    el.textContent = "";
    const span = document.createElement("span");
    const ok = r.resp.ok;
    span.className = ok ? "message" : "error";
    span.textContent = ok ? message : ((r.json && r.json.error) || ("HTTP " + r.resp.status));
    const served = document.createElement("span");
    served.className = "served";
    served.append(" served by ");
    const code = document.createElement("code");
    code.className = "instance";
    code.textContent = r.by;
    served.append(code);
    el.append(span, served);
    el.dataset.servedBy = r.by;
    el.dataset.status = String(r.resp.status);
  }

  function failed(el, err) {
    el.textContent = "";
    const span = document.createElement("span");
    span.className = "error";
    span.textContent = "no answer: " + err.message;
    el.append(span);
    el.dataset.status = "0";
  }

  function loggedIn(s) {
    $("session-name").textContent = s.name;
    $("visits").textContent = String(s.visits);
    $("login-form").hidden = true;
    $("logged-in").hidden = false;
  }

  function loggedOut() {
    $("session-name").textContent = "";
    $("visits").textContent = "0";
    $("logged-in").hidden = true;
    $("login-form").hidden = false;
  }

  // A fresh Idempotency-Key per click, reused by that click's retries, so
  // a retried request is counted once. getRandomValues works on plain
  // HTTP too, where crypto.randomUUID does not.
  function newKey() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return '"visit-' + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("") + '"';
  }

  // busy disables a button while its request is in flight: one click, one
  // request (and its retries).
  async function busy(button, f) {
    button.disabled = true;
    try { await f(); } finally { button.disabled = false; }
  }

  $("greet-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("name").value;
    const path = "/greet?name=" + encodeURIComponent(name);
    const el = $("greet-answer");
    try {
      const r = await call("GET", path);
      show(el, r, r.json && r.json.message);
    } catch (err) {
      failed(el, err);
    }
  });

  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const el = $("session-answer");
    await busy($("login"), async () => {
      try {
        const r = await call("POST", "/session", { name: $("login-name").value });
        show(el, r, "Logged in as " + (r.json && r.json.name) + ".");
        if (r.resp.status === 201 && r.json) loggedIn(r.json);
      } catch (err) {
        failed(el, err);
      }
    });
  });

  $("visit").addEventListener("click", async () => {
    const el = $("session-answer");
    const key = newKey();
    await busy($("visit"), async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await call("POST", "/session/visits", undefined, { "Idempotency-Key": key });
          show(el, r, "Visit counted: " + (r.json && r.json.visits) + ".");
          if (r.resp.ok && r.json) loggedIn(r.json);
          if (r.resp.status === 401) loggedOut();
          return;
        } catch (err) {
          // No answer (a connection cut, an instance gone): the same key
          // again, on whichever instance the balancer picks.
          if (attempt >= 3) { failed(el, err); return; }
        }
      }
    });
  });

  $("logout").addEventListener("click", async () => {
    const el = $("session-answer");
    await busy($("logout"), async () => {
      try {
        const r = await call("DELETE", "/session");
        show(el, r, "Logged out.");
        if (r.resp.ok) loggedOut();
      } catch (err) {
        failed(el, err);
      }
    });
  });

  // The session part needs this script: show it, then ask whether the
  // browser already has a session.
  $("session").hidden = false;
  (async () => {
    try {
      const r = await call("GET", "/session");
      if (r.resp.ok && r.json) loggedIn(r.json); else loggedOut();
    } catch (err) {
      loggedOut();
    }
    document.body.dataset.ready = "true";
  })();
})();
