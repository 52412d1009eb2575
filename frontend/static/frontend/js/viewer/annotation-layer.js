/**
 * The SVG layer over a viewport's canvas: measurements (finished, pending and the one being
 * drawn) and reference lines. Shapes live in image coordinates and are placed with the
 * viewport's view transform at every redraw, so they follow zoom, pan, rotation and flips.
 * Labels are SVG text set with textContent.
 * @module viewer/annotation-layer
 */

import {
  boundingBox,
  labelAnchor,
  provisionalLabel,
  resultLabel,
} from './measurement-geometry.js';

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @typedef {object} Measurement
 * @property {number} id
 * @property {import('./measurement-geometry.js').MeasureTool} tool
 * @property {Array<[number, number]>} points   image coordinates
 * @property {'pending'|'done'|'failed'} status
 * @property {any} [result]                     the server's `measurement` message
 * @property {string} [error]
 */

/**
 * @typedef {object} ReferenceLine
 * @property {[[number, number], [number, number]]} points  image coordinates on this image
 * @property {string} label                                  which viewport it comes from
 */

export class AnnotationLayer {
  /** @type {SVGSVGElement} */
  #svg;

  /** @param {HTMLElement} parent */
  constructor(parent) {
    this.#svg = /** @type {SVGSVGElement} */ (document.createElementNS(SVG, 'svg'));
    this.#svg.classList.add('viewport-annotations');
    this.#svg.setAttribute('aria-hidden', 'true');
    parent.append(this.#svg);
  }

  get element() {
    return this.#svg;
  }

  /**
   * Redraws everything.
   * @param {{imageToScreen(x: number, y: number): [number, number]}} transform
   * @param {{measurements: Measurement[], drawing: {tool: any, points: Array<[number, number]>} | null,
   *          referenceLines: ReferenceLine[], spacing: [number, number] | null}} content
   */
  render(transform, { measurements, drawing, referenceLines, spacing }) {
    const nodes = [];
    for (const line of referenceLines) nodes.push(this.#referenceLine(transform, line));
    for (const measurement of measurements) {
      const lines =
        measurement.status === 'done'
          ? resultLabel(measurement.result ?? {})
          : measurement.status === 'failed'
            ? [measurement.error || 'measurement failed']
            : [...provisionalLabel(measurement.tool, measurement.points, spacing), '…'];
      nodes.push(this.#shape(transform, measurement.tool, measurement.points, lines, `measurement is-${measurement.status}`));
    }
    if (drawing && drawing.points.length > 0) {
      nodes.push(
        this.#shape(transform, drawing.tool, drawing.points, provisionalLabel(drawing.tool, drawing.points, spacing), 'measurement is-drawing'),
      );
    }
    // Every frame of a scroll draws, mostly with nothing on the layer: no DOM change then.
    if (nodes.length > 0 || this.#svg.firstChild) this.#svg.replaceChildren(...nodes);
  }

  clear() {
    this.#svg.replaceChildren();
  }

  /**
   * @param {{imageToScreen(x: number, y: number): [number, number]}} transform
   * @param {ReferenceLine} line
   */
  #referenceLine(transform, line) {
    const [a, b] = line.points.map(([x, y]) => transform.imageToScreen(x, y));
    const group = element('g', { class: 'reference-line' });
    group.append(element('line', { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
    const label = element('text', { x: b[0], y: b[1], dx: 4, dy: -4 });
    label.textContent = line.label;
    group.append(label);
    return group;
  }

  /**
   * @param {{imageToScreen(x: number, y: number): [number, number]}} transform
   * @param {import('./measurement-geometry.js').MeasureTool} tool
   * @param {Array<[number, number]>} points
   * @param {string[]} lines
   * @param {string} className
   */
  #shape(transform, tool, points, lines, className) {
    const group = element('g', { class: `${className} tool-${tool}` });
    const screen = points.map(([x, y]) => transform.imageToScreen(x, y));
    if (tool === 'length' || tool === 'angle') {
      group.append(element('polyline', { points: screen.map((p) => p.join(',')).join(' ') }));
    } else if ((tool === 'ellipse' || tool === 'rectangle') && screen.length >= 2) {
      // Rotations are quarter turns, so an image-aligned box stays screen-aligned.
      const box = boundingBox(screen[0], screen[1]);
      if (tool === 'rectangle') {
        group.append(element('rect', { x: box.x, y: box.y, width: box.width, height: box.height }));
      } else {
        group.append(
          element('ellipse', {
            cx: box.x + box.width / 2,
            cy: box.y + box.height / 2,
            rx: box.width / 2,
            ry: box.height / 2,
          }),
        );
      }
    }
    for (const [x, y] of tool === 'ellipse' || tool === 'rectangle' ? [] : screen) {
      group.append(element('circle', { cx: x, cy: y, r: tool === 'probe' ? 3 : 2.5, class: 'handle' }));
    }
    if (lines.length > 0) {
      const [ax, ay] = transform.imageToScreen(...labelAnchor(tool, points));
      const text = element('text', { x: ax + 8, y: ay + 4, class: 'measurement-label' });
      lines.forEach((line, i) => {
        const span = element('tspan', { x: ax + 8, dy: i === 0 ? 0 : '1.2em' });
        span.textContent = line;
        text.append(span);
      });
      group.append(text);
    }
    return group;
  }
}

/**
 * @param {string} name
 * @param {Record<string, string | number>} attributes
 */
function element(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    node.setAttribute(key, typeof value === 'number' ? String(Math.round(value * 100) / 100) : value);
  }
  return node;
}
