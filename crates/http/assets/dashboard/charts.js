// SVG charts for the dashboard, drawn from the statistics API's figures. A figure is
// {value, suppression}: a suppressed one is drawn as a dashed outline labelled with the rule
// that hid it, never as zero. Every mark carries data-figure, data-value and data-suppression,
// so what is drawn can be checked against the API's answer.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

const SUPPRESSION_LABELS = {
  small_count: "suppressed: 1 to the threshold",
  small_base: "suppressed: too few people",
  secondary: "suppressed: would reveal another cell",
};

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatNumber(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "pence") {
    return "£" + (value / 100).toLocaleString("en-GB", { maximumFractionDigits: 0 });
  }
  return value.toLocaleString("en-GB", { maximumFractionDigits: 2 });
}

function markAttributes(item) {
  return {
    "data-figure": item.key,
    "data-value": item.figure.value === null ? "" : item.figure.value,
    "data-suppression": item.figure.suppression || "",
  };
}

// Horizontal bars, one per item: [{key, label, figure: {value, suppression}, unit, second,
// worse}] (`worse` draws a change for the worse in red).
function horizontalBars(container, items, options = {}) {
  const width = 460, labelWidth = 150, row = 26, valueWidth = 110;
  const height = items.length * row + 10;
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": options.title || "" });
  const shown = items.map((i) => Math.abs(i.figure.value || 0));
  const max = Math.max(1, ...shown);
  const scale = (width - labelWidth - valueWidth) / max;
  const zero = options.signed ? labelWidth + (width - labelWidth - valueWidth) / 2 : labelWidth;
  const span = options.signed ? scale / 2 : scale;
  items.forEach((item, index) => {
    const y = 5 + index * row;
    svg.appendChild(element("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end" }, item.label));
    const mark = markAttributes(item);
    if (item.figure.suppression) {
      svg.appendChild(element("rect", { ...mark, x: zero, y: y + 3, width: 60, height: row - 8, class: "suppressed" }));
      svg.appendChild(element("text", { x: zero + 66, y: y + 16, class: "suppressed-label", "data-label-for": item.key },
        SUPPRESSION_LABELS[item.figure.suppression] || "suppressed"));
      return;
    }
    const value = item.figure.value;
    const length = value === null ? 0 : Math.abs(value) * span;
    const x = value !== null && value < 0 ? zero - length : zero;
    const classes = ["bar"];
    if (item.second) classes.push("second");
    if (item.worse) classes.push("negative");
    svg.appendChild(element("rect", { ...mark, x, y: y + 3, width: Math.max(length, 0.5), height: row - 8, class: classes.join(" ") }));
    const labelX = value !== null && value < 0 ? zero + 4 : zero + length + 4;
    svg.appendChild(element("text", { x: labelX, y: y + 16, "data-label-for": item.key }, formatNumber(value, item.unit)));
  });
  if (options.signed) {
    svg.appendChild(element("line", { x1: zero, x2: zero, y1: 0, y2: height, class: "axis" }));
  }
  container.replaceChildren(svg);
  return svg;
}

// Vertical bars over time: [{key, label (the bucket), figure}].
function columns(container, items, options = {}) {
  const width = 460, height = 220, left = 44, bottom = 36, top = 10;
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": options.title || "" });
  const max = Math.max(1, ...items.map((i) => i.figure.value || 0));
  const plot = height - bottom - top;
  const step = (width - left - 6) / Math.max(items.length, 1);
  // As many bucket labels as fit side by side, at about 7 pixels a character.
  const longest = Math.max(1, ...items.map((i) => (i.short || i.label).length));
  const labelEvery = Math.max(1, Math.ceil((longest * 7 + 6) / step));
  svg.appendChild(element("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
  svg.appendChild(element("text", { x: left - 4, y: top + 4, "text-anchor": "end" }, formatNumber(max)));
  svg.appendChild(element("text", { x: left - 4, y: height - bottom, "text-anchor": "end" }, "0"));
  items.forEach((item, index) => {
    const x = left + index * step + step * 0.15;
    const w = step * 0.7;
    const mark = markAttributes(item);
    if (item.figure.suppression) {
      svg.appendChild(element("rect", { ...mark, x, y: height - bottom - plot * 0.15, width: w, height: plot * 0.15, class: "suppressed" }));
      svg.lastChild.appendChild(element("title", {}, SUPPRESSION_LABELS[item.figure.suppression]));
    } else {
      const h = ((item.figure.value || 0) / max) * plot;
      const rect = element("rect", { ...mark, x, y: height - bottom - h, width: w, height: Math.max(h, 0.5), class: "bar" });
      rect.appendChild(element("title", {}, `${item.label}: ${formatNumber(item.figure.value)}`));
      svg.appendChild(rect);
    }
    if (index % labelEvery === 0) {
      svg.appendChild(element("text", { x: x + w / 2, y: height - bottom + 14, "text-anchor": "middle" }, item.short || item.label));
    }
  });
  container.replaceChildren(svg);
  return svg;
}

window.WaymarkCharts = { horizontalBars, columns, formatNumber, SUPPRESSION_LABELS };
