"use strict";
// geomon review page. Two modes:
//  - app: served by `geomon review serve`; each decision is POSTed to api/decisions and saved
//    in the review store at once;
//  - offline: opened from disk; decisions are kept in this browser (localStorage) until the
//    reviewer exports them to a JSON file for `geomon review import`.
(function () {
  const DATA = JSON.parse(document.getElementById("review-data").textContent);
  const LOCAL_KEY = "geomon-review:" + DATA.aoi + ":" + DATA.run_id;
  const REVIEWER_KEY = "geomon-review:reviewer";
  const state = { app: false, local: {}, sites: {} };
  for (const s of DATA.sites) state.sites[s.site_key] = s.review;

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const label = (s) => String(s).replace(/_/g, " ");

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function reviewer() { return $("#reviewer").value.trim(); }

  function summary(review, local) {
    let text;
    if (review.status === "conflict") {
      text = "Conflict: " + review.opinions.map((o) => o.reviewer + " says " + label(o.status))
        .join("; ") + ". Not resolved until the reviewers agree.";
    } else if (review.status === "pending") {
      text = "Not reviewed yet.";
    } else {
      text = label(review.status) + " by " + review.reviewer + " (" + review.reviewed_at + ")";
      if (review.note) text += ": \u201c" + review.note + "\u201d";
    }
    if (local) {
      text += " Your decision here: " + label(local.status) + " (kept in this browser; " +
        "export and import it to save it).";
    }
    return text;
  }

  function render(card) {
    const key = card.dataset.siteKey;
    const review = state.sites[key];
    const local = state.app ? null : state.local[key];
    const shown = local ? local.status : review.status;
    card.dataset.state = shown;
    const badge = $("[data-role=badge]", card);
    badge.textContent = label(shown) + (local ? " (unsaved)" : "");
    badge.className = "badge state-" + shown;
    $("[data-role=summary]", card).textContent = summary(review, local);
    for (const r of $$("[data-role=status]", card)) {
      r.checked = r.value === shown && shown !== "conflict" && shown !== "pending";
    }
    if (local) $("[data-role=note]", card).value = local.note;
    const list = $("[data-role=history]", card);
    list.textContent = "";
    for (const d of review.history) {
      const li = document.createElement("li");
      li.textContent = d.reviewed_at + " \u00b7 " + d.reviewer + ": " + label(d.status) +
        (d.note ? " \u00b7 \u201c" + d.note + "\u201d" : "") +
        (d.site_key !== key ? " (on " + d.site_key + ")" : "");
      list.appendChild(li);
    }
    $("[data-role=nhist]", card).textContent = String(review.history.length);
  }

  function counts() {
    const n = {};
    for (const card of $$(".card")) n[card.dataset.state] = (n[card.dataset.state] || 0) + 1;
    $("#counts").textContent = DATA.states.filter((s) => n[s])
      .map((s) => n[s] + " " + label(s)).join(" \u00b7 ");
    applyFilter();
  }

  function applyFilter() {
    const f = $("#filter").value;
    for (const card of $$(".card")) {
      card.classList.toggle("hidden", f !== "all" && card.dataset.state !== f);
    }
  }

  function flash(card, text, isError) {
    const el = $("[data-role=saved]", card);
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }

  async function decide(card) {
    const checked = $("[data-role=status]:checked", card);
    if (!checked) { flash(card, "choose a status first", true); return; }
    const who = reviewer();
    if (!who) {
      flash(card, "enter your name in Reviewer at the top first", true);
      render(card);
      $("#reviewer").focus();
      return;
    }
    const decision = {
      site_key: card.dataset.siteKey, site_id: card.dataset.siteId, status: checked.value,
      reviewer: who, note: $("[data-role=note]", card).value.trim(),
      reviewed_at: new Date().toISOString(),
    };
    if (!state.app) {
      state.local[decision.site_key] = decision;
      const st = storage();
      if (st) st.setItem(LOCAL_KEY, JSON.stringify(state.local));
      render(card);
      counts();
      flash(card, "kept in this browser");
      return;
    }
    flash(card, "saving\u2026");
    try {
      const resp = await fetch("api/decisions", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(decision),
      });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || resp.statusText);
      state.sites[decision.site_key] = body.review;
      state.local[decision.site_key] = decision;
      render(card);
      counts();
      flash(card, body.recorded ? "saved" : "saved (no change)");
    } catch (err) {
      render(card);  // show what the store holds, not the unsaved choice
      flash(card, "not saved: " + err.message, true);
    }
  }

  function exportDecisions() {
    const decisions = Object.values(state.local);
    const doc = {
      format: "geomon-review-decisions", version: 1, aoi: DATA.aoi, run_id: DATA.run_id,
      exported_at: new Date().toISOString(), decisions: decisions,
    };
    const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "decisions-" + DATA.aoi + "-" + DATA.run_id + ".json";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  async function connect() {
    if (!/^https?:$/.test(location.protocol)) return false;
    try {
      const resp = await fetch("api/health", { cache: "no-store" });
      if (!resp.ok) return false;
      const h = await resp.json();
      if (h.app !== "geomon-review" || h.aoi !== DATA.aoi || h.run_id !== DATA.run_id) {
        return false;
      }
      const sites = await (await fetch("api/sites", { cache: "no-store" })).json();
      for (const s of sites.sites) state.sites[s.site_key] = s.review;
      return h;
    } catch (e) {
      return false;
    }
  }

  async function start() {
    const st = storage();
    $("#reviewer").value = (st && st.getItem(REVIEWER_KEY)) || "";
    $("#reviewer").addEventListener("change", () => {
      if (st) st.setItem(REVIEWER_KEY, reviewer());
    });
    $("#filter").addEventListener("change", applyFilter);
    $("#export").addEventListener("click", exportDecisions);
    for (const card of $$(".card")) {
      for (const r of $$("[data-role=status]", card)) {
        r.addEventListener("change", () => decide(card));
      }
      $("[data-role=save]", card).addEventListener("click", () => decide(card));
    }
    const health = await connect();
    if (health) {
      state.app = true;
      const mode = $("#mode");
      mode.classList.add("app");
      mode.textContent = "Connected to the review app: each decision is saved to " +
        health.store + " as you make it.";
    } else if (st) {
      try { state.local = JSON.parse(st.getItem(LOCAL_KEY) || "{}"); } catch (e) { /* ignore */ }
    }
    for (const card of $$(".card")) render(card);
    counts();
    document.body.dataset.ready = state.app ? "app" : "offline";
  }

  start();
})();
