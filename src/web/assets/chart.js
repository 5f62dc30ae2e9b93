// The temperature chart: the last five minutes of hotend and bed readings of one printer,
// drawn on a canvas with the page's own colours (no library).

export const WINDOW_MS = 5 * 60 * 1000;

export class TemperatureHistory {
  constructor() {
    this.samples = [];
  }

  add(at, temperatures) {
    const hotend = temperatures.hotends[0] ?? null;
    const bed = temperatures.bed ?? null;
    if (!hotend && !bed) return;
    this.samples.push({
      at,
      hotend: hotend?.actual ?? null,
      hotendTarget: hotend?.target ?? null,
      bed: bed?.actual ?? null,
      bedTarget: bed?.target ?? null,
    });
    while (this.samples.length && this.samples[0].at < at - WINDOW_MS) this.samples.shift();
  }
}

function colours(canvas) {
  const style = getComputedStyle(canvas);
  const read = (name) => style.getPropertyValue(name).trim();
  return { hotend: read("--hotend"), bed: read("--bed"), grid: read("--grid"), text: read("--muted") };
}

// Canvas pixels follow the element's CSS size and the screen's density.
function fit(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width: canvas.clientWidth, height: canvas.clientHeight };
}

function ceiling(samples) {
  let top = 50;
  for (const s of samples) {
    for (const v of [s.hotend, s.hotendTarget, s.bed, s.bedTarget]) {
      if (v !== null && v > top) top = v;
    }
  }
  return Math.ceil((top + 10) / 50) * 50;
}

function grid(ctx, area, top, c) {
  ctx.strokeStyle = c.grid;
  ctx.fillStyle = c.text;
  ctx.lineWidth = 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  for (const value of [0, top / 2, top]) {
    const y = area.y(value);
    ctx.beginPath();
    ctx.moveTo(area.left, y);
    ctx.lineTo(area.right, y);
    ctx.stroke();
    ctx.fillText(`${value}°`, 2, y);
  }
  ctx.textBaseline = "alphabetic";
  ctx.fillText("−5 min", area.left, area.bottom + 13);
  ctx.textAlign = "right";
  ctx.fillText("now", area.right, area.bottom + 13);
  ctx.textAlign = "left";
}

function line(ctx, samples, area, key, colour, dashed) {
  ctx.strokeStyle = colour;
  ctx.lineWidth = dashed ? 1 : 2;
  ctx.setLineDash(dashed ? [4, 4] : []);
  ctx.beginPath();
  let drawing = false;
  for (const s of samples) {
    if (s[key] === null) {
      drawing = false;
      continue;
    }
    const x = area.x(s.at);
    const y = area.y(s[key]);
    if (drawing) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    drawing = true;
  }
  ctx.stroke();
  ctx.setLineDash([]);
}

export function drawChart(canvas, history, now) {
  const { ctx, width, height } = fit(canvas);
  ctx.clearRect(0, 0, width, height);
  const samples = history.samples;
  const top = ceiling(samples);
  const area = { left: 34, right: width - 4, top: 6, bottom: height - 18 };
  area.x = (at) => area.left + ((at - (now - WINDOW_MS)) / WINDOW_MS) * (area.right - area.left);
  area.y = (v) => area.bottom - (v / top) * (area.bottom - area.top);
  const c = colours(canvas);
  grid(ctx, area, top, c);
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.left, 0, area.right - area.left, height);
  ctx.clip();
  line(ctx, samples, area, "hotendTarget", c.hotend, true);
  line(ctx, samples, area, "bedTarget", c.bed, true);
  line(ctx, samples, area, "hotend", c.hotend, false);
  line(ctx, samples, area, "bed", c.bed, false);
  ctx.restore();
}
