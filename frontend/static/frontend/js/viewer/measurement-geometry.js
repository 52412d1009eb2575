/**
 * Measurement shapes: built from the points a reader places (image coordinates), sent to the
 * server as `measure` shapes (PROTOCOL.md), and labelled from the server's answer. The browser
 * never computes the reported numbers from display pixels: the server measures the stored
 * values through the Modality LUT (PS3.3 C.11.1) with the frame's Pixel Spacing (PS3.3
 * 10.7.1.3). The provisional length/angle shown while drawing uses the same spacing.
 *
 * No DOM; unit-tested with node.
 * @module viewer/measurement-geometry
 */

/** @typedef {[number, number]} Point */
/** @typedef {'length'|'angle'|'ellipse'|'rectangle'|'probe'} MeasureTool */

/** How many points each tool needs. */
export const POINTS_NEEDED = Object.freeze({ probe: 1, length: 2, angle: 3, ellipse: 2, rectangle: 2 });

/** @param {string} tool */
export function isMeasureTool(tool) {
  return Object.hasOwn(POINTS_NEEDED, tool);
}

/**
 * Whether the points make a measurable shape (not a zero-length line or an empty box).
 * @param {MeasureTool} tool
 * @param {Point[]} points
 */
export function isComplete(tool, points) {
  if (points.length < POINTS_NEEDED[tool]) return false;
  switch (tool) {
    case 'probe':
      return true;
    case 'length':
      return distance(points[0], points[1]) > 0;
    case 'angle':
      return distance(points[0], points[1]) > 0 && distance(points[2], points[1]) > 0;
    default: {
      const [a, b] = points;
      return Math.abs(a[0] - b[0]) > 0 && Math.abs(a[1] - b[1]) > 0;
    }
  }
}

/**
 * The `shape` of a `measure` request.
 * @param {MeasureTool} tool
 * @param {Point[]} points  image coordinates
 */
export function protocolShape(tool, points) {
  const round = (/** @type {number} */ v) => Math.round(v * 1000) / 1000;
  const pts = points.map((p) => /** @type {Point} */ ([round(p[0]), round(p[1])]));
  switch (tool) {
    case 'probe':
      return { kind: 'point', x: pts[0][0], y: pts[0][1] };
    case 'length':
      return { kind: 'line', points: pts.slice(0, 2) };
    case 'angle':
      return { kind: 'angle', points: pts.slice(0, 3) };
    case 'ellipse':
    case 'rectangle': {
      const box = boundingBox(pts[0], pts[1]);
      return { kind: tool, x: box.x, y: box.y, width: box.width, height: box.height };
    }
    default:
      throw new RangeError(`unknown measurement tool ${tool}`);
  }
}

/**
 * @param {Point} a
 * @param {Point} b
 */
export function boundingBox(a, b) {
  const x = Math.min(a[0], b[0]);
  const y = Math.min(a[1], b[1]);
  return { x, y, width: Math.abs(a[0] - b[0]), height: Math.abs(a[1] - b[1]) };
}

/**
 * @param {Point} a
 * @param {Point} b
 */
export function distance(a, b) {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/**
 * Length of a line in mm when the spacing is known, else in pixels. Pixel Spacing is
 * [between rows, between columns] (PS3.3 10.7.1.3): dx runs along a row, so it scales by the
 * column spacing.
 * @param {Point} a
 * @param {Point} b
 * @param {[number, number] | null} spacing
 * @returns {{value: number, unit: 'mm'|'px'}}
 */
export function lineLength(a, b, spacing) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  if (spacing && spacing[0] > 0 && spacing[1] > 0) {
    return { value: Math.hypot(dx * spacing[1], dy * spacing[0]), unit: 'mm' };
  }
  return { value: Math.hypot(dx, dy), unit: 'px' };
}

/**
 * The angle at `vertex` between the arms to `a` and `c`, in degrees (0–180), measured in
 * physical space when the pixels are not square.
 * @param {Point} a
 * @param {Point} vertex
 * @param {Point} c
 * @param {[number, number] | null} [spacing]
 */
export function angleDegrees(a, vertex, c, spacing = null) {
  const sx = spacing ? spacing[1] : 1;
  const sy = spacing ? spacing[0] : 1;
  const u = [(a[0] - vertex[0]) * sx, (a[1] - vertex[1]) * sy];
  const v = [(c[0] - vertex[0]) * sx, (c[1] - vertex[1]) * sy];
  const lengths = Math.hypot(u[0], u[1]) * Math.hypot(v[0], v[1]);
  if (lengths === 0) return 0;
  const cos = Math.max(-1, Math.min(1, (u[0] * v[0] + u[1] * v[1]) / lengths));
  return (Math.acos(cos) * 180) / Math.PI;
}

/**
 * Text shown while a shape is being drawn, before the server's answer.
 * @param {MeasureTool} tool
 * @param {Point[]} points
 * @param {[number, number] | null} spacing
 * @returns {string[]}
 */
export function provisionalLabel(tool, points, spacing) {
  if (tool === 'length' && points.length >= 2) {
    const length = lineLength(points[0], points[1], spacing);
    return [`${fixed(length.value, 1)} ${length.unit}`];
  }
  if (tool === 'angle' && points.length >= 3) {
    return [`${fixed(angleDegrees(points[0], points[1], points[2], spacing), 1)}°`];
  }
  return [];
}

/**
 * The label lines of a server `measurement` message.
 * @param {{kind?: string, [key: string]: any}} result
 * @returns {string[]}
 */
export function resultLabel(result) {
  const lines = [];
  const unit = result.unit ? ` ${result.unit}` : '';
  switch (result.kind) {
    case 'point':
      if (typeof result.value === 'number') lines.push(`${fixed(result.value, 1)}${unit}`);
      // Colour pixels have no modality value; their samples come as `stored`.
      else if (Array.isArray(result.stored)) lines.push(`RGB ${result.stored.join(', ')}`);
      else lines.push('no value');
      break;
    case 'line':
      if (Number.isFinite(result.length_mm)) lines.push(`${fixed(result.length_mm, 1)} mm`);
      else lines.push(`${fixed(result.length_px, 1)} px`);
      break;
    case 'angle':
      lines.push(`${fixed(result.degrees, 1)}°`);
      break;
    case 'rectangle':
    case 'ellipse':
    case 'polygon':
      lines.push(`Mean ${fixed(result.mean, 1)} SD ${fixed(result.sd, 1)}${unit}`);
      lines.push(`Min ${fixed(result.min, 1)} Max ${fixed(result.max, 1)}`);
      if (Number.isFinite(result.area_mm2)) lines.push(`Area ${fixed(result.area_mm2, 1)} mm²`);
      else lines.push(`Area ${fixed(result.area_px, 0)} px²`);
      break;
    default:
      lines.push('?');
  }
  if (result.note) lines.push(String(result.note));
  return lines;
}

/**
 * Where a shape's label goes (image coordinates): beside its last point or its box corner.
 * @param {MeasureTool} tool
 * @param {Point[]} points
 * @returns {Point}
 */
export function labelAnchor(tool, points) {
  if (tool === 'ellipse' || tool === 'rectangle') {
    const box = boundingBox(points[0], points[1] ?? points[0]);
    return [box.x + box.width, box.y + box.height];
  }
  if (tool === 'angle') return points[1];
  return points[points.length - 1];
}

/**
 * Distance (in the units of the points) from p to the outline of a shape; used to pick a
 * measurement under the pointer.
 * @param {MeasureTool} tool
 * @param {Point[]} points
 * @param {Point} p
 */
export function distanceToShape(tool, points, p) {
  switch (tool) {
    case 'probe':
      return distance(points[0], p);
    case 'length':
      return distanceToSegment(p, points[0], points[1]);
    case 'angle':
      return Math.min(distanceToSegment(p, points[0], points[1]), distanceToSegment(p, points[1], points[2]));
    case 'rectangle': {
      const { x, y, width, height } = boundingBox(points[0], points[1]);
      const corners = /** @type {Point[]} */ ([
        [x, y],
        [x + width, y],
        [x + width, y + height],
        [x, y + height],
      ]);
      return Math.min(...corners.map((c, i) => distanceToSegment(p, c, corners[(i + 1) % 4])));
    }
    case 'ellipse': {
      const { x, y, width, height } = boundingBox(points[0], points[1]);
      const rx = width / 2;
      const ry = height / 2;
      const cx = x + rx;
      const cy = y + ry;
      // Distance to the outline along the ray from the centre: exact for circles, close
      // enough for picking on ellipses.
      const dx = p[0] - cx;
      const dy = p[1] - cy;
      const r = Math.hypot(dx / rx, dy / ry);
      if (r === 0) return Math.min(rx, ry);
      return Math.abs(Math.hypot(dx, dy) * (1 - 1 / r));
    }
    default:
      return Infinity;
  }
}

/**
 * @param {Point} p
 * @param {Point} a
 * @param {Point} b
 */
export function distanceToSegment(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const lengthSquared = dx * dx + dy * dy;
  if (lengthSquared === 0) return distance(p, a);
  const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / lengthSquared));
  return distance(p, [a[0] + t * dx, a[1] + t * dy]);
}

/**
 * @param {unknown} value
 * @param {number} digits
 */
function fixed(value, digits) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '—';
}
