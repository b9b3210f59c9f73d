// Marstek strategy card: what each battery does and why, live. Shipped with and registered by
// the marstek_strategy integration (no separate install). Add it with
//   type: custom:marstek-strategy-card
// It finds the integration's entities by their translation keys; nothing to configure.

const DOMAIN = "marstek_strategy";

const TEXT = {
  en: { title: "Marstek batteries", grid: "Grid", total: "Total", soc: "State of charge",
        setpoint: "Setpoint", actual: "Actual", charged: "Charged", discharged: "Discharged",
        loss: "Loss today", saved: "Saved today", none: "No battery yet: add one with \"Add battery\"",
        missing: "The Marstek strategy is not set up.",
        gridMode: "Grid mode", power: "Power", until: "Until", targetSoc: "Until state of charge", limitedBy: "Limited by" },
  nl: { title: "Marstek-batterijen", grid: "Net", total: "Totaal", soc: "Laadtoestand",
        setpoint: "Setpoint", actual: "Werkelijk", charged: "Geladen", discharged: "Ontladen",
        loss: "Verlies vandaag", saved: "Bespaard vandaag", none: "Nog geen batterij: voeg er een toe met \"Batterij toevoegen\"",
        missing: "De Marstek-strategie is niet ingesteld.",
        gridMode: "Netmodus", power: "Vermogen", until: "Tot", targetSoc: "Tot laadtoestand", limitedBy: "Begrensd door" },
  de: { title: "Marstek-Batterien", grid: "Netz", total: "Gesamt", soc: "Ladezustand",
        setpoint: "Sollwert", actual: "Ist", charged: "Geladen", discharged: "Entladen",
        loss: "Verlust heute", saved: "Gespart heute", none: "Noch keine Batterie: mit „Batterie hinzufügen“ hinzufügen",
        missing: "Die Marstek-Strategie ist nicht eingerichtet.",
        gridMode: "Netzmodus", power: "Leistung", until: "Bis", targetSoc: "Bis Ladezustand", limitedBy: "Begrenzt durch" },
  fr: { title: "Batteries Marstek", grid: "Réseau", total: "Total", soc: "État de charge",
        setpoint: "Consigne", actual: "Réel", charged: "Chargé", discharged: "Déchargé",
        loss: "Pertes aujourd’hui", saved: "Économisé aujourd’hui", none: "Aucune batterie : ajoutez-en une avec « Ajouter une batterie »",
        missing: "La stratégie Marstek n’est pas configurée.",
        gridMode: "Mode réseau", power: "Puissance", until: "Jusqu’à", targetSoc: "Jusqu’à l’état de charge", limitedBy: "Limité par" },
};

const escape = (value) =>
  String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// A figure that rounds to zero shows no sign ("-0.00 kWh" after a small negative correction).
const unsignedZero = (text) => (/[1-9]/.test(text) ? text : text.replace(/^\s*[-\u2212]\s*/, ""));

class MarstekStrategyCard extends HTMLElement {
  setConfig(config) {
    this._config = config || {};
  }

  getCardSize() {
    return 6;
  }

  static getStubConfig() {
    return {};
  }

  set hass(hass) {
    this._hass = hass;
    const html = this._render(hass);
    if (html !== this._html) {
      this._html = html;
      if (!this.shadowRoot) this.attachShadow({ mode: "open" });
      this.shadowRoot.innerHTML = html;
    }
  }

  _text(key) {
    const language = (this._hass.locale?.language || this._hass.language || "en").split("-")[0];
    return (TEXT[language] || TEXT.en)[key] ?? TEXT.en[key];
  }

  // Entities of the integration, grouped by device: {deviceId: {translationKey: entityId}}.
  _devices(hass) {
    const devices = {};
    for (const entry of Object.values(hass.entities || {})) {
      if (entry.platform !== DOMAIN || !entry.translation_key || !entry.device_id) continue;
      (devices[entry.device_id] ||= {})[entry.translation_key] = entry.entity_id;
    }
    return devices;
  }

  _state(entityId) {
    return entityId ? this._hass.states[entityId] : undefined;
  }

  _format(entityId) {
    const state = this._state(entityId);
    if (!state) return "–";
    return this._hass.formatEntityState ? this._hass.formatEntityState(state) : state.state;
  }

  _watts(entityId) {
    const value = Number(this._state(entityId)?.state);
    return Number.isFinite(value) ? value : null;
  }

  _w(value) {
    if (value === null || value === undefined) return "–";
    const locale = this._hass.locale?.language || this._hass.language || "en";
    return `${Math.round(value).toLocaleString(locale)} W`;
  }

  _render(hass) {
    const devices = this._devices(hass);
    const hubId = Object.keys(devices).find((id) => devices[id].status);
    const style = `<style>${STYLE}</style>`;
    if (!hubId) {
      return `${style}<ha-card header="${escape(this._config.title || this._text("title"))}"><div class="card-content">${escape(this._text("missing"))}</div></ha-card>`;
    }
    const hub = devices[hubId];
    const batteries = Object.entries(devices)
      .filter(([id, keys]) => id !== hubId && keys.setpoint_power)
      .map(([, keys]) => keys)
      .sort((a, b) => this._name(a).localeCompare(this._name(b)));

    const status = this._state(hub.status);
    const phases = status ? this._state(hub.grid_power)?.attributes?.phase_sensors || {} : {};
    const phaseCells = Object.entries(phases).map(([phase, entityId]) => this._phaseCell(phase, this._watts(entityId)));
    phaseCells.push(this._phaseCell(this._text("total"), this._watts(hub.grid_power), "total"));

    const rows = batteries.map((keys) => this._battery(keys)).join("");
    const energy = [
      ["charged", hub.total_energy_charged],
      ["discharged", hub.total_energy_discharged],
      ["loss", hub.conversion_loss_today],
      ["saved", hub.saved_today],
    ]
      .filter(([, entityId]) => entityId)
      .map(([key, entityId]) => `<div class="figure" data-key="${key}"><span>${escape(this._text(key))}</span><b>${escape(unsignedZero(this._format(entityId)))}</b></div>`)
      .join("");

    return `${style}<ha-card>
      <div class="header"><span class="title">${escape(this._config.title || this._text("title"))}</span>
        <span class="status" data-state="${escape(status?.state)}">${escape(this._format(hub.status))}</span></div>
      <div class="card-content">
        <div class="phases"><span class="label">${escape(this._text("grid"))}</span>${phaseCells.join("")}</div>
        ${this._gridMode(hub.grid_mode)}
        ${rows || `<div class="empty">${escape(this._text("none"))}</div>`}
        <div class="energy">${energy}</div>
      </div></ha-card>`;
  }

  // The grid mode select: its mode, and its attributes as the select has them (the power
  // and end of the request in force, what limits the fleet); nothing else computes them.
  _gridMode(entityId) {
    const state = this._state(entityId);
    if (!state) return "";
    const attributes = state.attributes || {};
    const value = (name) => (this._hass.formatEntityAttributeValue
      ? this._hass.formatEntityAttributeValue(state, name) : String(attributes[name]));
    const parts = [];
    if (attributes.power !== null && attributes.power !== undefined) {
      parts.push(["power", this._text("power"), this._w(Number(attributes.power))]);
    }
    if (attributes.target_soc !== null && attributes.target_soc !== undefined) {
      parts.push(["target-soc", this._text("targetSoc"), value("target_soc")]);
    }
    if (attributes.until) parts.push(["until", this._text("until"), value("until")]);
    if (attributes.limited_by && attributes.limited_by !== "none") {
      parts.push(["limit", this._text("limitedBy"), value("limited_by")]);
    }
    const cells = parts
      .map(([key, label, text]) => `<span class="${key}"><span>${escape(label)}</span> <b>${escape(text)}</b></span>`)
      .join("");
    return `<div class="grid-mode" data-mode="${escape(state.state)}" data-limit="${escape(attributes.limited_by ?? "")}">
      <span class="label">${escape(this._text("gridMode"))}</span> <b class="mode-name">${escape(this._format(entityId))}</b>${cells}</div>`;
  }

  _name(keys) {
    const entityId = keys.setpoint_power;
    const device = this._hass.devices?.[this._hass.entities[entityId]?.device_id];
    return (device?.name_by_user || device?.name || entityId).replace(/ strategy$/, "");
  }

  _phaseCell(label, watts, extra = "") {
    const direction = watts === null ? "" : watts > 0 ? "import" : watts < 0 ? "export" : "";
    return `<div class="phase ${extra} ${direction}" data-phase="${escape(label)}"><span>${escape(label)}</span><b>${escape(this._w(watts))}</b></div>`;
  }

  _battery(keys) {
    const setpoint = this._watts(keys.setpoint_power);
    const actual = this._watts(keys.ac_power);
    const scale = 2500;
    const bar = (value, kind) => {
      if (value === null) return "";
      const width = Math.min(100, (Math.abs(value) / scale) * 100);
      const side = value < 0 ? "charge" : "discharge";
      return `<div class="bar ${kind} ${side}"><div style="width:${width.toFixed(1)}%"></div></div>`;
    };
    const explanation = this._state(keys.reason)?.attributes?.explanation || this._format(keys.reason);
    const name = this._name(keys);
    return `<div class="battery" data-name="${escape(name)}">
      <div class="line"><b class="name">${escape(name)}</b>
        <span class="soc" title="${escape(this._text("soc"))}">${escape(this._format(keys.state_of_charge))}</span>
        <span class="mode">${escape(this._format(keys.setpoint_mode))}</span></div>
      <div class="powers">
        <span>${escape(this._text("setpoint"))} <b class="setpoint">${escape(this._w(setpoint))}</b></span>
        <span>${escape(this._text("actual"))} <b class="actual">${escape(this._w(actual))}</b></span></div>
      ${bar(setpoint, "setpoint")}${bar(actual, "actual")}
      <div class="reason">${escape(explanation)}</div>
    </div>`;
  }
}

const STYLE = `
  :host { display: block; }
  .header { display: flex; justify-content: space-between; align-items: center; padding: 16px 16px 8px; }
  .card-content { padding: 0 16px 16px; }
  .title { font-size: 1.4em; }
  .status { font-weight: 500; padding: 2px 8px; border-radius: 12px; background: var(--secondary-background-color); }
  .status[data-state="running"] { color: var(--success-color, #2e7d32); }
  .status[data-state="dry_run"], .status[data-state="settling"] { color: var(--warning-color, #ef6c00); }
  .status[data-state="fail_safe"] { color: var(--error-color, #c62828); }
  .phases { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 12px; }
  .phase { display: flex; flex-direction: column; padding: 4px 8px; border-radius: 8px; background: var(--secondary-background-color); min-width: 64px; }
  .phase span, .label, .figure span, .powers { color: var(--secondary-text-color); font-size: 0.85em; }
  .phase.import b { color: var(--error-color, #c62828); }
  .phase.export b { color: var(--success-color, #2e7d32); }
  .grid-mode { display: flex; gap: 4px 12px; align-items: baseline; flex-wrap: wrap; margin-bottom: 8px; }
  .grid-mode > span > span { color: var(--secondary-text-color); font-size: 0.85em; }
  .grid-mode[data-limit="peak_cap"] .limit b, .grid-mode[data-limit="phase_limit"] .limit b { color: var(--warning-color, #ef6c00); }
  .battery { border-top: 1px solid var(--divider-color); padding: 8px 0; }
  .line { display: flex; gap: 12px; align-items: baseline; }
  .line .name { flex: 1; }
  .powers { display: flex; gap: 16px; margin: 4px 0; }
  .powers b { color: var(--primary-text-color); }
  .bar { height: 6px; background: var(--divider-color); border-radius: 3px; margin: 2px 0; overflow: hidden; }
  .bar div { height: 100%; background: var(--primary-color); }
  .bar.actual div { opacity: 0.55; }
  .bar.charge div { background: var(--success-color, #2e7d32); }
  .reason { font-size: 0.9em; margin-top: 4px; }
  .energy { display: flex; gap: 8px; flex-wrap: wrap; border-top: 1px solid var(--divider-color); padding-top: 8px; }
  .figure { display: flex; flex-direction: column; flex: 1; min-width: 90px; }
  .empty { padding: 8px 0; }
`;

if (!customElements.get("marstek-strategy-card")) {
  customElements.define("marstek-strategy-card", MarstekStrategyCard);
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: "marstek-strategy-card",
    name: "Marstek strategy",
    description: "Per-phase grid power, the grid mode and what limits it, each battery's setpoint, actual power and reason, energy.",
  });
}
