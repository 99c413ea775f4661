// The commissioner dashboard: signs in with the password grant, asks the statistics API the
// question the form sets (period, buckets, practices) and draws the answers. The access token
// is kept in this page's memory only; signing out, or closing the page, forgets it.
"use strict";

(function () {
  const charts = window.WaymarkCharts;
  let token = null;
  let signingIn = null;

  const $ = (selector) => document.querySelector(selector);
  const setState = (state) => { document.body.dataset.state = state; };

  async function api(path, accept) {
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${token}`, Accept: accept || "application/json" },
    });
    if (response.status === 401) {
      signOut("Your session has ended: sign in again.");
      throw new Error("signed out");
    }
    if (!response.ok) {
      let detail = `${response.status}`;
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    return accept === "text/csv" ? response.text() : response.json();
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.target;
    $("#sign-in-error").textContent = "";
    const body = new URLSearchParams({
      grant_type: "password",
      username: form.username.value,
      password: form.password.value,
    });
    const response = await fetch("/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body,
    });
    if (!response.ok) {
      let detail = "Those details were not recognised.";
      try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
      $("#sign-in-error").textContent = detail;
      return;
    }
    token = (await response.json()).access_token;
    form.password.value = "";
    $("#sign-in").hidden = true;
    $("#report").hidden = false;
    setState("loading");
    try {
      await listPractices();
      await show();
    } catch (error) {
      $("#question-error").textContent = error.message;
      setState("error");
    }
  }

  function signOut(message) {
    token = null;
    $("#report").hidden = true;
    $("#sign-in").hidden = false;
    $("#sign-in-error").textContent = message || "";
    $("#as-of").textContent = "";
    setState("signed-out");
  }

  async function listPractices() {
    const fieldset = $("#practices");
    fieldset.querySelectorAll("label").forEach((l) => l.remove());
    let cursor = null;
    do {
      const page = await api(`/v1/practices?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      for (const practice of page.items) {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.name = "practice";
        box.value = practice.id;
        label.append(box, ` ${practice.name} (${practice.ods_code})`);
        fieldset.append(label);
      }
      cursor = page.next_cursor;
    } while (cursor);
  }

  function query() {
    const form = $("#question");
    const params = new URLSearchParams({ bucket: form.bucket.value });
    if (form.from.value) params.set("from", form.from.value);
    if (form.to.value) params.set("to", form.to.value);
    const practices = [...form.querySelectorAll("input[name=practice]:checked")].map((b) => b.value);
    if (practices.length) params.set("practice_ids", practices.join(","));
    return params.toString();
  }

  // Short enough for a dozen side by side: the month (with its year in January and first), or
  // the Monday's day and month.
  function bucketLabel(day, kind, first) {
    const date = new Date(`${day}T00:00:00Z`);
    if (kind === "week") {
      return date.toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
    }
    const withYear = first || date.getUTCMonth() === 0;
    return date.toLocaleDateString("en-GB", { month: "short", year: withYear ? "2-digit" : undefined, timeZone: "UTC" });
  }

  const STAGE_NAMES = {
    referred: "Referred", booked: "Booked", seen: "Seen at clinic", onward_referred: "Referred on",
    engaged: "Engaged", closed: "Closed", declined: "Declined", did_not_attend: "Did not attend",
    withdrawn: "Withdrawn",
  };
  const MEASURE_NAMES = {
    swemwbs: "SWEMWBS", ons4_life_satisfaction: "Life satisfaction", ons4_worthwhile: "Worthwhile",
    ons4_happiness: "Happiness", ons4_anxiety: "Anxiety (lower is better)",
  };

  function draw(answers) {
    const { funnel, referrals, wellbeing, gp, spend } = answers;
    const d = funnel.disclosure;
    $("#disclosure").textContent =
      `counts of 1 to ${d.suppress_up_to} hidden, others rounded to the nearest ${d.round_to}` +
      (d.secondary_suppression ? ", with secondary suppression" : "");
    $("#as-of").textContent = `Exact as of ${new Date(funnel.as_of).toLocaleString("en-GB", { timeZone: "UTC" })} UTC`;
    $("#as-of").dataset.asOf = funnel.as_of;

    charts.horizontalBars($("#funnel .chart"),
      [...funnel.stages, ...funnel.exits].map((s) => ({
        key: `funnel.${s.stage}`, label: STAGE_NAMES[s.stage] || s.stage, figure: s.referrals,
        second: funnel.exits.includes(s),
      })), { title: "Referrals reaching each stage" });
    const median = funnel.median_days_to_first_contact;
    $("#funnel .note").textContent = median.suppression
      ? "Median days to first clinic contact: suppressed (too few people)."
      : median.value === null ? "Nobody has been seen at a clinic yet."
        : `Median days from referral to first clinic contact: ${charts.formatNumber(median.value)}.`;
    $("#funnel .note").dataset.figure = "funnel.median_days_to_first_contact";
    $("#funnel .note").dataset.value = median.value === null ? "" : median.value;

    charts.columns($("#referrals .chart"),
      referrals.buckets.map((day, i) => ({
        key: `referrals.${day}`, label: day, short: bucketLabel(day, referrals.bucket, i === 0),
        figure: referrals.bucket_totals[i],
      })), { title: "Referrals made per bucket" });

    charts.horizontalBars($("#wellbeing .chart"),
      wellbeing.measures.map((m) => ({
        key: `wellbeing.${m.measure}`, label: MEASURE_NAMES[m.measure] || m.measure, figure: m.mean_change,
        worse: m.mean_change.value !== null && (m.higher_is_better ? m.mean_change.value < 0 : m.mean_change.value > 0),
      })), { signed: true, title: "Mean change per measure" });

    charts.horizontalBars($("#gp-appointments .chart"), [
      { key: "gp.mean_before", label: "Before", figure: gp.mean_before },
      { key: "gp.mean_after", label: "After", figure: gp.mean_after, second: true },
    ], { title: "Mean GP appointments per patient" });
    $("#gp-appointments .note").textContent = gp.appointments_avoided.suppression
      ? "Appointments avoided: suppressed (too few patients)."
      : `Patients with both counts: ${charts.formatNumber(gp.patients.value)}; appointments avoided: ${charts.formatNumber(gp.appointments_avoided.value)}.`;

    charts.horizontalBars($("#spend .chart"), [
      { key: "spend.total", label: "Spend", figure: spend.total.amount_pence, unit: "pence" },
      { key: "spend.estimated_savings", label: "Estimated savings", figure: spend.value.estimated_savings_pence, unit: "pence", second: true },
    ], { title: "Spend against estimated savings" });
    const cost = spend.value.cost_per_person_pence;
    $("#spend .note").textContent =
      `Cost per person supported: ${cost.suppression ? "suppressed" : charts.formatNumber(cost.value, "pence")}; ` +
      `savings at ${charts.formatNumber(spend.value.gp_consultation_pence, "pence")} per GP consultation avoided.`;
  }

  async function show(event) {
    if (event) event.preventDefault();
    $("#question-error").textContent = "";
    setState("loading");
    const q = query();
    try {
      const [funnel, referrals, wellbeing, gp, spend] = await Promise.all([
        api(`/v1/stats/funnel?${q}`), api(`/v1/stats/referrals?${q}`), api(`/v1/stats/wellbeing?${q}`),
        api(`/v1/stats/gp-appointments?${q}`), api(`/v1/stats/spend?${q}`),
      ]);
      const form = $("#question");
      if (!form.from.value) form.from.value = funnel.from;
      if (!form.to.value) form.to.value = funnel.to;
      draw({ funnel, referrals, wellbeing, gp, spend });
      setState("ready");
    } catch (error) {
      if (token) {
        $("#question-error").textContent = error.message;
        setState("error");
      }
    }
  }

  async function download(event) {
    event.preventDefault();
    const endpoint = event.target.dataset.endpoint;
    try {
      const csv = await api(`/v1/stats/${endpoint}?${query()}`, "text/csv");
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
      link.download = `${endpoint}.csv`;
      link.dataset.downloaded = endpoint;
      link.dataset.rows = String(csv.trim().split("\n").length - 1);
      document.body.append(link);
      link.click();
      setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 60_000);
    } catch (error) {
      $("#question-error").textContent = error.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#sign-in-form").addEventListener("submit", (e) => { signingIn = signIn(e); });
    $("#question").addEventListener("submit", show);
    $("#question").bucket.addEventListener("change", () => {
      const form = $("#question");
      form.from.value = "";
      form.to.value = "";
    });
    $("#sign-out").addEventListener("click", () => signOut());
    document.querySelectorAll("a.csv").forEach((a) => a.addEventListener("click", download));
    setState("signed-out");
  });
})();
