/// The approvals dashboard, served from the binary (no CDN, no inline script: the CSP allows only
/// 'self'). Every text from the ledger is inserted with `textContent`, so markup in a command or a URL
/// is shown, never rendered; escapes and invisible characters arrive already neutralised by the server.
enum Dashboard {
    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Countersign — approvals</title>
        <link rel="stylesheet" href="/app.css">
        <script src="/app.js" defer></script>
        </head>
        <body>
        <header>
          <h1>Countersign</h1>
          <span id="verify-status" class="badge">ledger: …</span>
          <span id="who"></span>
        </header>
        <section id="signin">
          <h2>Reviewer sign-in</h2>
          <input id="token" type="password" autocomplete="off" placeholder="reviewer token">
          <button id="signin-button">Sign in</button>
          <p id="signin-error" class="error"></p>
        </section>
        <main id="app" hidden>
          <section>
            <h2>Waiting for a second key</h2>
            <p id="inbox-empty">Nothing is waiting for you.</p>
            <div id="inbox"></div>
          </section>
          <section>
            <h2>Recent receipts</h2>
            <div class="filters">
              <input id="filter-text" placeholder="search tool, target, rule…">
              <select id="filter-status">
                <option value="">any status</option><option>authorized</option><option>blocked</option>
                <option>pending</option><option>executed</option><option>unmediated</option><option>approve</option>
                <option>reject</option><option>expire</option>
              </select>
              <select id="filter-decision">
                <option value="">any decision</option><option>allow</option><option>deny</option><option>ask</option>
                <option>ask-&gt;approved</option><option>ask-&gt;rejected</option><option>ask-&gt;expired</option>
                <option>ask-&gt;abandoned</option>
              </select>
            </div>
            <table id="receipts"><thead><tr><th>#</th><th>time</th><th>kind</th><th>status</th><th>decision</th>
            <th>rule</th><th>tool</th><th>target</th><th>trace</th></tr></thead><tbody></tbody></table>
          </section>
          <section id="trace" hidden>
            <h2>Trace <span id="trace-id"></span></h2>
            <ol id="trace-steps"></ol>
          </section>
        </main>
        </body>
        </html>

        """

    static let style = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0 2rem 2rem; color: #1d1d1f; }
        header { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; }
        .badge { padding: 2px 8px; border-radius: 10px; background: #eee; }
        .badge.ok { background: #d6f5d6; } .badge.bad { background: #f8d0d0; }
        .approval { border: 1px solid #ccc; border-radius: 6px; padding: 0.8rem; margin: 0.6rem 0; }
        .approval pre { background: #f6f6f6; padding: 0.5rem; white-space: pre-wrap; word-break: break-all; }
        .approval .meta { color: #555; }
        .error { color: #b00020; }
        table { border-collapse: collapse; width: 100%; }
        td, th { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: left; vertical-align: top; }
        td.trace { cursor: pointer; text-decoration: underline; }
        .filters { display: flex; gap: 0.5rem; margin-bottom: 0.5rem; }

        """

    static let script = """
        "use strict";
        const state = { token: sessionStorage.getItem("cs-token"), csrf: sessionStorage.getItem("cs-csrf") };
        const $ = (id) => document.getElementById(id);
        function el(tag, text, cls) {
          const node = document.createElement(tag);
          if (text !== undefined && text !== null) node.textContent = String(text);
          if (cls) node.className = cls;
          return node;
        }
        async function api(path, options = {}) {
          const headers = { "Authorization": "Bearer " + state.token };
          if (options.body) { headers["Content-Type"] = "application/json"; headers["X-Countersign-CSRF"] = state.csrf; }
          const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
          const data = await response.json().catch(() => ({}));
          if (!response.ok) throw new Error(data.error || response.statusText);
          return data;
        }
        async function signIn() {
          state.token = $("token").value.trim();
          try {
            const session = await api("/v1/session", { method: "POST" });
            state.csrf = session.csrf;
            sessionStorage.setItem("cs-token", state.token);
            sessionStorage.setItem("cs-csrf", state.csrf);
            start(session.reviewer);
          } catch (error) {
            $("signin-error").textContent = "Sign-in failed: " + error.message;
          }
        }
        function start(reviewer) {
          $("signin").hidden = true;
          $("app").hidden = false;
          $("who").textContent = "signed in as " + reviewer.name + " (" + reviewer.id + ")";
          refresh();
          setInterval(refresh, 1500);
        }
        async function refresh() {
          await Promise.all([loadInbox(), loadReceipts(), loadVerify()]).catch(() => {});
        }
        async function loadVerify() {
          const badge = $("verify-status");
          try {
            const report = await api("/v1/verify");
            // "verified" only when the chain holds and its signers are pinned (as countersign verify says).
            const state = !report.valid ? "INVALID" : report.verified ? "verified" : "UNVERIFIED (no trusted key)";
            badge.textContent = "ledger: " + state + " (" + report.receipts + " receipts)";
            badge.className = "badge " + (report.verified ? "ok" : "bad");
          } catch (error) { badge.textContent = "ledger: " + error.message; badge.className = "badge bad"; }
        }
        async function loadInbox() {
          const data = await api("/v1/approvals");
          const open = data.approvals.filter((a) => a.state === "open");
          $("inbox-empty").hidden = open.length > 0;
          const inbox = $("inbox");
          const typing = document.activeElement && document.activeElement.classList.contains("note");
          if (typing) return;
          inbox.replaceChildren(...open.map(renderApproval));
        }
        function renderApproval(a) {
          const box = el("div", null, "approval");
          box.dataset.id = a.id;
          box.append(el("h3", a.tool + " — " + a.actor + " (" + a.surface + ")"));
          box.append(el("pre", a.preview.join("\\n")));
          box.append(el("p", "rule " + a.rule + ": " + a.reason, "meta"));
          box.append(el("p", "requested with the token of: " + a.requester, "meta"));
          const needs = "needs " + a.quorum + " approval(s)" + (a.groups.length ? " from " + a.groups.join(", ") : "")
            + (a.reviewers.length ? " by " + a.reviewers.join(", ") : "") + "; expires " + a.deadline;
          box.append(el("p", needs, "meta"));
          if (a.votes.length) box.append(el("p", "votes: " + a.votes.map((v) => v.reviewer + " " + v.verdict).join(", "), "meta"));
          if (!a.can_vote) { box.append(el("p", a.refusal, "meta")); return box; }
          const note = el("input", null, "note");
          note.placeholder = "note (recorded with your answer)";
          const approve = el("button", "Approve", "approve");
          const deny = el("button", "Deny", "deny");
          const error = el("p", null, "error");
          const send = async (verdict) => {
            try {
              await api("/v1/approvals/" + encodeURIComponent(a.id) + "/" + verdict,
                { method: "POST", body: JSON.stringify({ note: note.value }) });
              box.replaceChildren(el("p", "You answered: " + verdict, "meta"));
              refresh();
            } catch (e) { error.textContent = e.message; }
          };
          approve.addEventListener("click", () => send("approve"));
          deny.addEventListener("click", () => send("deny"));
          box.append(note, approve, deny, error);
          return box;
        }
        async function loadReceipts() {
          const params = new URLSearchParams({ limit: "100" });
          if ($("filter-status").value) params.set("status", $("filter-status").value);
          if ($("filter-decision").value) params.set("decision", $("filter-decision").value);
          const data = await api("/v1/receipts?" + params);
          const text = $("filter-text").value.toLowerCase();
          const rows = data.receipts.filter((r) => !text || JSON.stringify(r).toLowerCase().includes(text)).map((r) => {
            const action = r.action || {};
            const row = el("tr");
            for (const v of [r.seq, r.time, r.kind, r.status, r.decision, r.policy && r.policy.rule_id, action.tool,
                             action.target]) row.append(el("td", v === undefined ? "" : v));
            const trace = el("td", r.trace_id || "", "trace");
            if (r.trace_id) trace.addEventListener("click", () => showTrace(r.trace_id));
            row.append(trace);
            return row;
          });
          $("receipts").tBodies[0].replaceChildren(...rows);
        }
        async function showTrace(id) {
          const data = await api("/v1/receipts?trace_id=" + encodeURIComponent(id) + "&limit=1000");
          $("trace").hidden = false;
          $("trace-id").textContent = id;
          $("trace-steps").replaceChildren(...data.receipts.reverse().map((r) =>
            el("li", "#" + r.seq + " " + r.time + " " + r.kind + " " + r.status + (r.decision ? " " + r.decision : "")
              + (r.error ? " — " + r.error : ""))));
        }
        document.addEventListener("DOMContentLoaded", () => {
          $("signin-button").addEventListener("click", signIn);
          $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") signIn(); });
          for (const id of ["filter-text", "filter-status", "filter-decision"]) $(id).addEventListener("input", loadReceipts);
          if (state.token) api("/v1/session", { method: "POST" }).then((s) => { state.csrf = s.csrf; start(s.reviewer); })
            .catch(() => sessionStorage.clear());
        });

        """
}
