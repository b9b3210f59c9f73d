// Scripted browser walkthrough (scripts/e2e --browser): a person's first hour, in Chromium.
// Logs in, adds the hub with the three simulated batteries in one flow, makes a first dashboard
// with the integration's card, sees the dry-run plan on it, starts the strategy, sees the
// card follow a load step and show a charge asked through the service. Saves screenshots. Runs on every supported Home Assistant: the
// controls are found by role and label, as a person finds them (the entity picker is a text
// field with a list on 2025.x and a button that opens a search dialog on 2026.x). Fails on any
// error of the page (an exception, a console error, a failed request) but the brand images of
// other integrations, which come from the internet.
//   node walkthrough.mjs <base url> <screenshot dir>
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
if (!base || !shots) {
  console.error("usage: node walkthrough.mjs <base url> <screenshot dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const DOMAIN = "marstek_strategy";
const UI_BOUND_S = 60;  // after logging in, the UI (not "Loading...") shows within this
const log = (message) => console.log(`[browser ${new Date().toISOString().slice(11, 19)}] ${message}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(30000);

// Errors of the page. Brand images of other integrations come from the internet (2025.x asks
// brands.home-assistant.io, 2026.x its own /api/brands proxy, 404 without internet): allowed.
const errors = [];
const otherBrand = (url) => url.startsWith("https://brands.home-assistant.io/")
  || (/\/api\/brands\/integration\//.test(url) && !url.includes(`/integration/${DOMAIN}/`));
page.on("pageerror", (err) => errors.push(`page error: ${err.stack || err}`));
page.on("console", (message) => {
  // A failed resource is judged by its request below (the console does not name it).
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
    errors.push(`console error: ${message.text()}`);
  }
});
page.on("response", (response) => {
  if (response.status() >= 400 && !otherBrand(response.url())) {
    errors.push(`HTTP ${response.status()} ${response.request().method()} ${response.url()}`);
  }
});
page.on("requestfailed", (request) => {
  const failure = request.failure()?.errorText ?? "";
  // A navigation away aborts what the last page still loaded: not an error of the page.
  if (!otherBrand(request.url()) && failure !== "net::ERR_ABORTED") {
    errors.push(`request failed: ${request.method()} ${request.url()} (${failure})`);
  }
});

const shot = async (name) => {
  await page.screenshot({ path: join(shots, `${name}.png`) });
  log(`screenshot ${name}.png`);
};
// The frontend's own connection, for what a person does outside the flow (dashboards, load).
const hass = (fn, arg) => page.evaluate(fn, arg);
const waitFor = async (what, check, timeout = 60000) => {
  const start = Date.now();
  while (Date.now() - start < timeout) {
    if (await check()) return (Date.now() - start) / 1000;
    await page.waitForTimeout(500);
  }
  throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`);
};
// Open a page of the frontend. A navigation the frontend starts itself at that moment (after a
// flow closes, or when a new dashboard's panel arrives) aborts ours: then open it again.
const open = async (path) => {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.goto(`${base}${path}`);
      return;
    } catch (error) {
      if (attempt >= 3 || !String(error).includes("ERR_ABORTED")) throw error;
      log(`opening ${path} was aborted by another navigation; again`);
      await page.waitForTimeout(1000);
    }
  }
};
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// Choose an entity in a form's entity picker, found by its label, as a person does: open it,
// type the entity id into its search, pick the entity by its name in the list.
const pickEntity = async (scope, label, entityId, name) => {
  const named = new RegExp(`^${escape(label)}`);
  const text = scope.getByRole("combobox", { name: named });  // 2025.x: a text field
  const opener = scope.getByRole("button", { name: named });  // 2026.x: opens a search dialog
  await ((await text.count()) ? text : opener).first().click();
  // 2026.x: typed before its search field has focus, the id's "e" opens the quick bar; so
  // type only once the focus (through the shadow roots) is in a text field.
  await waitFor(`a text field with the focus after opening "${label}"`, () => page.evaluate(() => {
    let element = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    return element?.tagName === "INPUT" || element?.tagName === "TEXTAREA";
  }), 15000);
  await page.keyboard.type(entityId);
  await page.getByRole("option", { name }).first().click();
};
// The UI is there: the sidebar's Settings (2025.x: an option of a list, 2026.x: a link) and
// the "Loading..." launch screen gone (it covers the sidebar, which renders beneath it, until
// the frontend has what it asks for at start, get_services among them).
const uiShown = async () => {
  const settings = page.getByRole("link", { name: /Settings/ })
    .or(page.getByRole("option", { name: "Settings" }));
  return (await settings.first().isVisible().catch(() => false))
    && (await page.locator("#ha-launch-screen").count()) === 0;
};

try {
  // 1. Log in; the UI shows (the sidebar's Settings), not "Loading...".
  await open("/");
  await page.getByRole("textbox", { name: "Username" }).fill("dev");
  await page.getByRole("textbox", { name: "Password" }).fill("dev");
  await page.getByRole("textbox", { name: "Password" }).press("Enter");
  await page.waitForURL((url) => !url.pathname.startsWith("/auth"));
  const shown = await waitFor("the UI after logging in", uiShown, UI_BOUND_S * 1000);
  await page.waitForFunction(() => document.querySelector("home-assistant")?.hass?.connected);
  log(`logged in; the UI shows ${shown.toFixed(1)} s later`);

  // 2. Add the hub with its three batteries, in one flow.
  await open(`/config/integrations/dashboard/add?domain=${DOMAIN}`);
  await page.getByRole("button", { name: "OK" }).click();
  const dialog = page.locator("dialog-data-entry-flow");
  // The step's title: the text of the dialog's header (2026.x), or its heading (2025.x).
  const title = async () => {
    const header = dialog.getByRole("banner");
    if (!(await header.count())) {
      return (await dialog.getByRole("heading", { level: 2 }).first().innerText()).trim();
    }
    const texts = (await header.first().ariaSnapshot()).split("\n")
      .map((line) => line.match(/^\s*- (?:text|heading)(?: "([^"]*)"|: (.*))/))
      .filter(Boolean).map((match) => (match[1] ?? match[2]).replace(/^"(.*)"$/, "$1"));
    return texts.join(" ").trim();
  };
  const submit = async () => {
    const before = await title();
    await dialog.getByRole("button", { name: /^submit$/i }).click();
    await waitFor(`the step after "${before}"`, async () =>
      (await title().catch(() => before)) !== before);
    await page.waitForTimeout(500);
  };
  // The meter's total power: "P1 meter Power" (2025.x) or "Power", device "P1 meter" (2026.x).
  await pickEntity(dialog, "Grid power sensor", "sensor.p1_meter_power", /^(P1 meter )?Power(?! phase)/);
  await dialog.getByRole("radio", { name: "Three phases" }).check();
  await shot("flow-meter");
  await submit();
  log(`step: ${await title()}`);
  await shot("flow-phases");  // proposed from the meter's device
  await submit();
  log(`step: ${await title()}`);
  await shot("flow-batteries");  // the three LilyGo boards, all proposed
  await submit();
  for (let index = 1; index <= 3; index++) {
    const text = await title();
    log(`step: ${text}`);
    if (!text.includes(`${index} of 3`)) throw new Error(`expected battery ${index} of 3, got ${text}`);
    if (index === 1) await shot("flow-battery");
    await submit();
  }
  await dialog.getByText(/set up with 3 batteries/).waitFor();  // and it names "Add battery"
  await shot("flow-done");
  // "Finish" (2025.x), "Skip and finish" beside the devices' names and areas (2026.x).
  await dialog.getByRole("button", { name: /^(skip and )?finish$/i }).click();
  log("hub created with 3 batteries");

  const entry = await hass(async (domain) => {
    const ha = document.querySelector("home-assistant").hass;
    const entries = await ha.callWS({ type: "config_entries/get", domain });
    return entries[0];
  }, DOMAIN);
  if (entry.num_subentries !== 3) throw new Error(`expected 3 batteries: ${JSON.stringify(entry)}`);

  // 3. A first dashboard with the card (what pasting the README's YAML does).
  await hass(async () => {
    const ha = document.querySelector("home-assistant").hass;
    const dashboards = await ha.callWS({ type: "lovelace/dashboards/list" });
    if (!dashboards.some((d) => d.url_path === "marstek-batteries")) {
      await ha.callWS({ type: "lovelace/dashboards/create", url_path: "marstek-batteries",
                        title: "Batteries", icon: "mdi:home-battery", mode: "storage" });
    }
    await ha.callWS({ type: "lovelace/config/save", url_path: "marstek-batteries",
                      config: { views: [{ title: "Batteries", cards: [{ type: "custom:marstek-strategy-card" }] }] } });
  });
  await open("/marstek-batteries/0");
  const card = page.locator("marstek-strategy-card");
  await card.waitFor();
  await waitFor("three batteries on the card", async () => (await card.locator(".battery").count()) === 3);
  log("the card shows three batteries");

  // The state as the card shows it.
  const cardState = () => card.evaluate((el) => {
    const root = el.shadowRoot;
    const watts = (text) => Number(String(text).replace(/[^0-9-]/g, "")) || 0;
    return {
      status: root.querySelector(".status")?.dataset.state,
      phases: [...root.querySelectorAll(".phase")].map((p) => p.dataset.phase),
      batteries: [...root.querySelectorAll(".battery")].map((b) => ({
        name: b.dataset.name,
        setpoint: watts(b.querySelector(".setpoint")?.textContent),
        actual: watts(b.querySelector(".actual")?.textContent),
        reason: b.querySelector(".reason")?.textContent,
      })),
    };
  });
  const options = async (changes) => hass(async ([entryId, changes]) => {
    const ha = document.querySelector("home-assistant").hass;
    const flow = await ha.callApi("POST", "config/config_entries/options/flow", { handler: entryId });
    const values = {};
    for (const field of flow.data_schema) values[field.name] = field.description?.suggested_value ?? field.default;
    return ha.callApi("POST", `config/config_entries/options/flow/${flow.flow_id}`, { ...values, ...changes });
  }, [entry.entry_id, changes]);

  // 4. The dry-run plan on the card (a new hub starts in dry run; before that change, set it).
  if ((await cardState()).status !== "dry_run") {
    log("the hub does not start in dry run here: turning dry run on in the options");
    await options({ dry_run: true });
  }
  // The plan shows, and nothing moves (turned on late, the batteries first ramp down).
  await waitFor("the dry-run plan with every battery still", async () => {
    const state = await cardState();
    return state.status === "dry_run" && state.batteries.some((b) => b.setpoint !== 0)
      && state.batteries.every((b) => Math.abs(b.actual) < 10);
  });
  let state = await cardState();
  log(`dry run: ${JSON.stringify(state.batteries)}`);
  if (!state.phases.includes("L1") || !state.phases.includes("L3")) throw new Error(`no phases on the card: ${state.phases}`);
  if (state.batteries.some((b) => !b.reason)) throw new Error("a battery without a reason sentence");
  if (state.batteries.some((b) => Math.abs(b.actual) >= 10)) throw new Error(`dry run moved a battery: ${JSON.stringify(state)}`);
  await page.waitForTimeout(1000);
  await shot("card-dry-run");

  // 5. Start: dry run off, strategy on. The card follows the batteries.
  await options({ dry_run: false });
  await hass(async () => {
    const ha = document.querySelector("home-assistant").hass;
    const entity = Object.values(ha.entities).find((e) => e.platform === "marstek_strategy" && e.translation_key === "strategy_enabled");
    await ha.callService("switch", "turn_on", { entity_id: entity.entity_id });
  });
  await waitFor("the batteries to follow", async () => {
    const now = await cardState();
    return ["running", "settling"].includes(now.status) && now.batteries.some((b) => b.actual > 0);
  }, 90000);
  await page.waitForTimeout(20000);  // settle
  const before = await cardState();
  log(`running: ${JSON.stringify(before.batteries)}`);

  // 6. A load step: a kettle on L1 (+1500 W).
  await hass(() => document.querySelector("home-assistant").hass.callService("marstek_sim", "set_house", { load_l1: 2200 }));
  log("load step +1500 W on L1");
  const total = (s) => s.batteries.reduce((sum, b) => sum + b.actual, 0);
  const seconds = await waitFor("the card to follow the load step",
    async () => total(await cardState()) >= total(before) + 1200, 90000);
  await page.waitForTimeout(8000);
  state = await cardState();
  log(`followed the step after ${seconds.toFixed(1)} s: ${JSON.stringify(state.batteries)}`);
  await shot("card-load-step");

  // 6b. A grid mode through the service: the card shows the mode, its power and end in the
  // user's language (the select's state and attributes, formatted by the frontend).
  const gridLine = () => card.evaluate((el) => {
    const line = el.shadowRoot.querySelector(".grid-mode");
    return line && { mode: line.dataset.mode, name: line.querySelector(".mode-name")?.textContent,
                     power: line.querySelector(".power b")?.textContent, until: line.querySelector(".until b")?.textContent };
  });
  const zeroLine = await gridLine();
  if (!zeroLine || zeroLine.mode !== "zero" || !zeroLine.name || zeroLine.name === "zero") {
    throw new Error(`no translated grid mode on the card: ${JSON.stringify(zeroLine)}`);
  }
  await hass(() => document.querySelector("home-assistant").hass.callService(
    "marstek_strategy", "set_grid_mode", { mode: "charge", power: 1200, duration: { minutes: 10 } }));
  await waitFor("the card to show the charge", async () => (await gridLine())?.mode === "charge");
  const chargeLine = await gridLine();
  log(`grid mode on the card: ${JSON.stringify(chargeLine)}`);
  if (chargeLine.name === "charge" || !/1.?200 W/.test(chargeLine.power || "")
      || !chargeLine.until || /\d{4}-\d\d-\d\dT/.test(chargeLine.until)) {
    throw new Error(`the card's charge line is not formatted: ${JSON.stringify(chargeLine)}`);
  }
  await hass(() => document.querySelector("home-assistant").hass.callService(
    "marstek_strategy", "set_grid_mode", { mode: "zero" }));
  await waitFor("the card to show zero again", async () => (await gridLine())?.mode === "zero");

  // 7. A battery's device page: state of charge and AC power beside the setpoint, and a link
  // to its LilyGo device.
  const deviceId = await hass(() => {
    const ha = document.querySelector("home-assistant").hass;
    return Object.values(ha.devices).find((d) => d.name === "LilyGo L1 strategy")?.id;
  });
  await open(`/config/devices/device/${deviceId}`);
  await page.getByText("State of charge").first().waitFor();
  await page.getByText("AC power").first().waitFor();
  await page.waitForTimeout(1500);
  await shot("battery-device-page");
  if (errors.length) throw new Error(`the page reported errors:\n${errors.join("\n")}`);
  console.log(`WALKTHROUGH PASSED: 3 batteries in one flow; dry-run plan shown; followed a load step in ${seconds.toFixed(1)} s`);
} catch (err) {
  await page.screenshot({ path: join(shots, "failure.png") }).catch(() => {});
  console.error(`WALKTHROUGH FAILED: ${err.stack || err}`);
  if (errors.length && !String(err).includes("the page reported errors")) {
    console.error(`errors of the page before that:\n${errors.join("\n")}`);
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
